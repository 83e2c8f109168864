// Reading QR codes from the camera.
//
// The browser's own BarcodeDetector where it has one that reads QR codes
// (Chrome on Android and macOS, Safari 17+); elsewhere (desktop Linux and
// Windows Chromium, Firefox) the vendored barcode-detector ponyfill on
// ZXing's WebAssembly build, its .wasm served by us from /vendor/ — the
// library's default would fetch it from a CDN, which a venue may not reach.

const WASM_URL = "/vendor/zxing-wasm/zxing_reader.wasm";
const FRAME_EVERY_MS = 120;
const SAME_CODE_PAUSE_MS = 2500;

let detectorPromise = null;

async function nativeDetector() {
  if (!("BarcodeDetector" in window)) return null;
  try {
    const formats = await window.BarcodeDetector.getSupportedFormats();
    return formats.includes("qr_code") ? new window.BarcodeDetector({ formats: ["qr_code"] }) : null;
  } catch {
    return null;
  }
}

async function wasmDetector() {
  const ponyfill = await import("/vendor/barcode-detector/ponyfill.js");
  ponyfill.setZXingModuleOverrides({
    locateFile: (path, prefix) => (path.endsWith(".wasm") ? WASM_URL : prefix + path),
  });
  await ponyfill.prepareZXingModule({ fireImmediately: true });
  return new ponyfill.BarcodeDetector({ formats: ["qr_code"] });
}

/** The detector in use, and which kind it is ("native" or "wasm"). */
export function detector() {
  if (!detectorPromise) {
    detectorPromise = (async () => {
      const native = await nativeDetector();
      if (native) return { kind: "native", detector: native };
      return { kind: "wasm", detector: await wasmDetector() };
    })();
  }
  return detectorPromise;
}

/**
 * Show the back camera in `video` and call onCode(text, frameAt) for each QR
 * code read (the same code at most once per SAME_CODE_PAUSE_MS, so a ticket
 * held in front of the lens is one scan). ``frameAt`` is when the camera
 * captured the frame (performance.now() time): the door's answer is timed
 * from it. Returns a stop() function.
 *
 * Where the browser tells us of each new frame (requestVideoFrameCallback),
 * every frame is read as it arrives; a frame that arrives while the reader
 * is busy is not read, and the next read is dated back to it (the code may
 * have been in it), so the timing never flatters. Elsewhere a timer reads
 * every FRAME_EVERY_MS. While ``paused()`` says so (the door is deciding
 * the code just read) frames are left unread: the decoder runs on the page's
 * one thread and would only slow the answer down.
 */
export async function startCamera(video, onCode, { paused = () => false } = {}) {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    throw new Error("no camera API (the page needs HTTPS)");
  }
  const stream = await navigator.mediaDevices.getUserMedia({
    video: { facingMode: { ideal: "environment" }, width: { ideal: 1280 }, height: { ideal: 720 } },
    audio: false,
  });
  video.srcObject = stream;
  video.setAttribute("playsinline", "");
  video.muted = true;
  await video.play();
  const { detector: reader } = await detector();
  let running = true;
  let busy = false;
  let unreadSince = null;
  let last = { text: "", at: 0 };

  async function read(frameAt) {
    busy = true;
    try {
      if (video.readyState >= 2) {
        const found = await reader.detect(video);
        const now = Date.now();
        for (const code of found) {
          const text = code.rawValue;
          if (!text || (text === last.text && now - last.at < SAME_CODE_PAUSE_MS)) continue;
          last = { text, at: now };
          onCode(text, frameAt);
          break;
        }
        if (found.length && found[0].rawValue === last.text) last.at = now;
      }
    } catch {
      // A frame that could not be read; try the next one.
    } finally {
      busy = false;
    }
  }

  if ("requestVideoFrameCallback" in video) {
    const onFrame = (now, frame) => {
      if (!running) return;
      video.requestVideoFrameCallback(onFrame);
      const at = frame.captureTime ?? frame.presentationTime ?? now;
      if (busy || paused()) {
        unreadSince ??= at;
        return;
      }
      const frameAt = unreadSince ?? at;
      unreadSince = null;
      read(frameAt);
    };
    video.requestVideoFrameCallback(onFrame);
  } else {
    const look = async () => {
      if (!running) return;
      if (!paused()) await read(performance.now() - FRAME_EVERY_MS);
      if (running) setTimeout(look, FRAME_EVERY_MS);
    };
    look();
  }

  return function stop() {
    running = false;
    for (const track of stream.getTracks()) track.stop();
    video.srcObject = null;
  };
}
