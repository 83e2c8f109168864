"""The realtime hub: topics, offsets, snapshots, per-client queues, the cross-process bus."""
