/**
 * Runs the `open` package in a process of its own, so that the opener and the
 * browser it starts get the environment we choose (the package has no env
 * option and would hand them ours). Usage: node open-url.js <url>.
 * Exits with the opener's code if it ends within the grace period, else 0.
 */
import open from 'open';

const GRACE_MS = 700;
const url = process.argv[2];
if (!url) process.exit(2);
try {
  const child = await open(url, { wait: false });
  const timer = setTimeout(() => process.exit(0), GRACE_MS);
  child.once('error', () => process.exit(1));
  child.once('exit', (code) => {
    clearTimeout(timer);
    process.exit(code ?? 1);
  });
  child.unref();
} catch {
  process.exit(1);
}
