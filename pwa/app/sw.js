// The staff app's service worker (scope /app/): the app shell and the
// vendored libraries are precached, so the app opens and scans with no
// network at all. Caches are versioned: a new VERSION installs a fresh
// cache and the old ones are deleted when it activates.
//
// API calls, the websocket and /healthz are never answered from the cache:
// an online/offline probe that the cache answered would lie, and a stale
// API answer is worse than a clear failure that sends the scan to the
// offline queue.
//
// Background Sync is not relied on (DESIGN.md, Offline): the page flushes
// its queue itself on open, focus, `online` and a timer.

const VERSION = "muster-app-v14";

const APP_FILES = [
  "/app/",
  "/app/index.html",
  "/app/app.css",
  "/app/admitted.js",
  "/app/answer.js",
  "/app/broadcasts.js",
  "/app/broadcast_strings.js",
  "/app/broadcasts.css",
  "/app/tasks.js",
  "/app/walkin.js",
  "/app/walkin_strings.js",
  "/app/task_strings.js",
  "/app/tasks.css",
  "/app/main.js",
  "/app/camera.js",
  "/app/connection.js",
  "/app/device.js",
  "/app/display.js",
  "/app/doorbook.js",
  "/app/duty.js",
  "/app/duty_strings.js",
  "/app/evacuation.js",
  "/app/evacuation_strings.js",
  "/app/evacuation.css",
  "/app/feedback.js",
  "/app/incidents.js",
  "/app/plans.js",
  "/app/element.js",
  "/app/scanner.js",
  "/app/scanqueue.js",
  "/app/stock.js",
  "/app/store.js",
  "/app/strings.js",
  "/app/verdict.js",
  "/app/manifest.webmanifest",
  "/app/icons/icon-192.png",
  "/app/icons/icon-512.png",
  "/app/icons/icon-maskable-512.png",
  "/shared/api.js",
  "/shared/codes.js",
  "/shared/i18n.js",
  "/shared/incident.js",
  "/shared/live.js",
  "/shared/markdown.js",
  "/shared/once.js",
  "/shared/outbox.js",
  "/shared/terms.js",
  "/shared/base.css",
  "/shared/rules.js",
  "/shared/secret.js",
  "/shared/time.js",
];

const VENDOR_FILES = [
  "/vendor/barcode-detector/ponyfill.js",
  "/vendor/barcode-detector/zxing-exported.js",
  "/vendor/zxing-wasm/zxing_reader.wasm",
  "/vendor/noble-ed25519/index.js",
  "/vendor/noble-hashes/sha2.js",
  "/vendor/noble-hashes/_md.js",
  "/vendor/noble-hashes/_u64.js",
  "/vendor/noble-hashes/utils.js",
];

const PRECACHE = [...APP_FILES, ...VENDOR_FILES];
const NEVER_CACHED = ["/api/", "/ws/", "/healthz", "/readyz", "/metrics"];

self.addEventListener("install", (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(VERSION);
      // cache: "reload" skips the HTTP cache, so a new version never
      // precaches an old file.
      await cache.addAll(PRECACHE.map((url) => new Request(url, { cache: "reload" })));
      await self.skipWaiting();
    })(),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      for (const name of await caches.keys()) {
        if (name.startsWith("muster-app-") && name !== VERSION) await caches.delete(name);
      }
      await self.clients.claim();
    })(),
  );
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) return;
  if (NEVER_CACHED.some((prefix) => url.pathname.startsWith(prefix))) return;
  event.respondWith(answer(request, url));
});

/**
 * Network first for the app's own pages and modules (a deployed fix reaches
 * phones at once), the cache when the network fails or is slow; cache first
 * for the large vendored files, which change only with VERSION.
 */
async function answer(request, url) {
  const cache = await caches.open(VERSION);
  const key = url.pathname === "/app/index.html" || url.pathname === "/app" ? "/app/" : url.pathname;
  if (url.pathname.startsWith("/vendor/")) {
    const hit = await cache.match(key);
    if (hit) return hit;
    return fetch(request);
  }
  try {
    const response = await fetchWithin(request, 3000);
    if (response.ok && PRECACHE.includes(key)) await cache.put(key, response.clone());
    return response;
  } catch (error) {
    const hit = await cache.match(key);
    if (hit) return hit;
    throw error;
  }
}

function fetchWithin(request, ms) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), ms);
  // By URL, not by the Request: a navigation Request cannot be re-sent with options.
  return fetch(request.url, { signal: controller.signal, credentials: "same-origin" }).finally(() =>
    clearTimeout(timer),
  );
}
