// Attaches a DevTools client (as `bench/lib.mjs` cpuProfile does) to the inspector on the port
// given, enables Runtime and Profiler, and stays attached until killed.
const port = process.argv[2];
const targets = await (await fetch(`http://127.0.0.1:${port}/json`)).json();
for (const target of targets) {
  const ws = new WebSocket(target.webSocketDebuggerUrl, { headers: { origin: "http://localhost" } });
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = reject;
  });
  let id = 0;
  for (const method of ["Runtime.enable", "Profiler.enable", "Profiler.start"])
    ws.send(JSON.stringify({ id: ++id, method }));
}
console.error(`attached to ${targets.length} target(s)`);
setInterval(() => {}, 1 << 30);
