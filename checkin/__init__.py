"""Ticket secrets, QR rendering, the admission decision and offline-sync reconciliation."""
