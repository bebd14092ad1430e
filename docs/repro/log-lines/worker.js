// `GET /?n=N`: writes N console.log lines and answers. Nothing else: the sockets measure.sh counts
// come from the log lines alone (README.md next to this file).
export default {
  async fetch(request) {
    const n = Number(new URL(request.url).searchParams.get("n") ?? 0);
    for (let i = 0; i < n; i++) console.log(JSON.stringify({ level: "info", msg: "line", i }));
    return new Response(`${n} lines\n`);
  },
};
