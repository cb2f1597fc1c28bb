/**
 * Offline support: on install, caches the app files listed in precache.json (written by
 * the build); afterwards every same-origin GET goes to the network first and falls back
 * to the cache, so the app and any model used once keep working without a connection.
 * Nothing is sent anywhere: the worker only answers the page's own requests.
 */
const CACHE = 'unet-web-v1';

self.addEventListener('install', (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(CACHE);
      try {
        const res = await fetch(new URL('precache.json', self.registration.scope), { cache: 'no-store' });
        if (res.ok) await cache.addAll((await res.json()).files.map((f) => new URL(f, self.registration.scope).href));
      } catch {
        // Dev server or a partial deployment: files are cached as they are fetched.
      }
      await self.skipWaiting();
    })(),
  );
});

self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

self.addEventListener('fetch', (event) => {
  const req = event.request;
  if (req.method !== 'GET' || new URL(req.url).origin !== self.location.origin) return;
  event.respondWith(
    (async () => {
      const cache = await caches.open(CACHE);
      try {
        const res = await fetch(req);
        if (res.ok) await cache.put(req, res.clone());
        return res;
      } catch (e) {
        const hit = (await cache.match(req)) ?? (await cache.match(req, { ignoreSearch: true }));
        if (hit) return hit;
        throw e;
      }
    })(),
  );
});
