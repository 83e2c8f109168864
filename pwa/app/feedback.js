// A sound and a buzz with every answer, for a door too loud to read a
// screen by: one high beep for yes, two low ones for no. WebAudio needs a
// user gesture before it may play, so the context is made on the first tap.

let audio = null;

export function unlockAudio() {
  if (audio) return;
  const Context = window.AudioContext || window.webkitAudioContext;
  if (!Context) return;
  try {
    audio = new Context();
  } catch {
    audio = null;
  }
}

function tone(frequency, start, seconds) {
  const oscillator = audio.createOscillator();
  const gain = audio.createGain();
  oscillator.type = "square";
  oscillator.frequency.value = frequency;
  gain.gain.setValueAtTime(0.0001, start);
  gain.gain.exponentialRampToValueAtTime(0.3, start + 0.01);
  gain.gain.exponentialRampToValueAtTime(0.0001, start + seconds);
  oscillator.connect(gain).connect(audio.destination);
  oscillator.start(start);
  oscillator.stop(start + seconds + 0.02);
}

export function signal(ok) {
  if (navigator.vibrate) navigator.vibrate(ok ? 80 : [200, 80, 200]);
  if (!audio) return;
  if (audio.state === "suspended") audio.resume();
  const now = audio.currentTime;
  if (ok) {
    tone(1320, now, 0.12);
  } else {
    tone(330, now, 0.18);
    tone(330, now + 0.25, 0.18);
  }
}

/** An urgent broadcast (pwa/app/broadcasts.js): a long buzz and three rising beeps. */
export function alarm() {
  if (navigator.vibrate) navigator.vibrate([400, 150, 400, 150, 400]);
  if (!audio) return;
  if (audio.state === "suspended") audio.resume();
  const now = audio.currentTime;
  tone(880, now, 0.2);
  tone(1100, now + 0.3, 0.2);
  tone(1320, now + 0.6, 0.3);
}
