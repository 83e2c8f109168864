// What the phone keeps across reloads and dead networks, in IndexedDB.
//
//   kv         small named values: the offline bundle, its cursor, conflicts
//   scans      the queue of scans not yet accepted by the server (by nonce)
//   incidents  incident reports not yet sent, with their photo Blob (by nonce)
//   movements  stock movements not yet sent (by nonce)
//   seen       what this door knows of each ticket: zone, checked in, since when (by ticket)
//   accounts   evacuation accounts not yet sent (by nonce; pwa/app/evacuation.js)
//   display    each ticket's name sealed under its own secret (by ticket; display.js)
//   acks       broadcast acknowledgements not yet sent (by nonce; broadcasts.js)
//   taskchanges task steps ticked and statuses set, not yet sent (by nonce; tasks.js)
//   walkins    walk-ins registered on a blank, not yet taken by the server (by nonce; walkin.js)
//
// Every queued record has the client-made nonce the server deduplicates
// on, so sending one twice (a timeout, a reload mid-flush) writes once.

const DB_NAME = "muster-staff";
const DB_VERSION = 7;
const STORES = {
  kv: null,
  scans: "nonce",
  incidents: "nonce",
  movements: "nonce",
  seen: "ticket",
  accounts: "nonce",
  display: "ticket",
  duty: "nonce",
  acks: "nonce",
  taskchanges: "nonce",
  walkins: "nonce",
};

let opening = null;

function promised(request) {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

export function openStore() {
  if (!opening) {
    opening = new Promise((resolve, reject) => {
      const request = indexedDB.open(DB_NAME, DB_VERSION);
      request.onupgradeneeded = () => {
        const db = request.result;
        for (const [name, keyPath] of Object.entries(STORES)) {
          if (!db.objectStoreNames.contains(name)) db.createObjectStore(name, keyPath ? { keyPath } : undefined);
        }
      };
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
  }
  return opening;
}

async function withStore(name, mode, action) {
  const db = await openStore();
  const tx = db.transaction(name, mode);
  const result = action(tx.objectStore(name));
  const value = result instanceof IDBRequest ? promised(result) : Promise.resolve(result);
  await new Promise((resolve, reject) => {
    tx.oncomplete = resolve;
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error || new Error("IndexedDB transaction aborted"));
  });
  return value;
}

export const get = (store, key) => withStore(store, "readonly", (s) => s.get(key));
export const all = (store) => withStore(store, "readonly", (s) => s.getAll());
export const count = (store) => withStore(store, "readonly", (s) => s.count());
export const remove = (store, key) => withStore(store, "readwrite", (s) => s.delete(key));
export const clear = (store) => withStore(store, "readwrite", (s) => s.clear());

/** Put one record (kv takes an explicit key). */
export function put(store, value, key) {
  return withStore(store, "readwrite", (s) => (key === undefined ? s.put(value) : s.put(value, key)));
}

/** Put many records in one transaction. */
export function putMany(store, values) {
  return withStore(store, "readwrite", (s) => {
    for (const value of values) s.put(value);
  });
}

/** Forget everything (unpairing). */
export async function wipe() {
  for (const name of Object.keys(STORES)) await clear(name);
}
