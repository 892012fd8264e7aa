// Opens N keep-alive connections to HOST:PORT, sends one small request on each and reads its
// response, then holds them idle and prints "READY" until stdin closes.
import net from 'node:net';
const [host, port, n] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4])];
const body = '{"model":"m","messages":[{"role":"user","content":"hi"}]}';
const req = `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n` +
            `Content-Length: ${body.length}\r\n\r\n${body}`;
const socks = [];
function open() {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, host, () => s.write(req));
    let got = '';
    s.on('data', (d) => {
      got += d;
      const i = got.indexOf('\r\n\r\n');
      const m = /content-length: (\d+)/i.exec(got);
      if (i >= 0 && m && got.length >= i + 4 + Number(m[1])) { s.removeAllListeners('data'); resolve(s); }
    });
    s.on('error', reject);
  });
}
for (let i = 0; i < n; i += 200) {
  const batch = [];
  for (let j = i; j < Math.min(n, i + 200); j++) batch.push(open());
  socks.push(...(await Promise.all(batch)));
}
console.log('READY', socks.length);
process.stdin.resume();
process.stdin.on('end', () => { socks.forEach((s) => s.destroy()); process.exit(0); });
