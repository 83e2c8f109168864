// One run at a time: a call made while a run is under way gets that run's
// promise instead of starting another (two flushes of one queue at once
// would send the same records twice).
export function oneAtATime(run) {
  let running = null;
  return (...args) => {
    if (!running) {
      running = run(...args).finally(() => {
        running = null;
      });
    }
    return running;
  };
}
