// Runs before `npm start`, `npm test` and the other npm scripts that load TypeScript: plain
// JavaScript that any Node can read, so that a Node too old to run `.ts` files (the system's,
// where package.json ships no Node for this platform) says what to install instead of failing on
// the first `.ts` import. Exits 1 when the Node that npm found cannot run the project.
const MINIMUM = [22, 18, 0];
const version = process.versions.node.split('.').map(Number);
const tooOld =
  version[0] !== MINIMUM[0]
    ? version[0] < MINIMUM[0]
    : version[1] !== MINIMUM[1]
      ? version[1] < MINIMUM[1]
      : version[2] < MINIMUM[2];
const stripsTypes = Boolean(process.features && process.features.typescript);

if (tooOld || !stripsTypes) {
  const shipped = ['linux-x64', 'linux-arm64', 'darwin-x64'];
  const here = `${process.platform}-${process.arch}`;
  const lines = [
    '',
    `This project needs Node ${MINIMUM.join('.')} or newer (it runs its .ts files directly); npm found Node ${process.versions.node} at ${process.execPath}.`,
    shipped.includes(here)
      ? `A Node for ${here} is installed with the project's packages: run \`npm ci\` (without --omit=optional or --no-optional) and try again.`
      : `No Node is shipped with the project for ${here}: install Node 24 (https://nodejs.org, or \`brew install node@24\`, \`nvm install 24\`) and try again.`,
    '',
  ];
  process.stderr.write(lines.join('\n'));
  process.exit(1);
}
