// The HEALTHCHECK probe of kiln's containers (the image carries no curl): `node deploy/healthcheck.mjs URL` exits 0
// when URL answers 2xx within 4 s, else 1 and prints why (docker inspect shows it in the health log).
const url = process.argv[2];
if (!url) {
  console.error('usage: node deploy/healthcheck.mjs URL');
  process.exit(2);
}
try {
  const res = await fetch(url, { signal: AbortSignal.timeout(4000) });
  const body = await res.text();
  if (!res.ok) {
    console.error(`${url}: ${res.status} ${body.slice(0, 500)}`);
    process.exit(1);
  }
} catch (err) {
  console.error(`${url}: ${err.cause?.message ?? err.message}`);
  process.exit(1);
}
