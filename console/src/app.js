// The console page: sign-in, the grid of every instance's live screen, one instance's console, disks and
// snapshots, images and their change records, screenshot jobs. Hash routes: #/, #/instance/ID, #/images.
import { call, credentials, signIn, signOut, setRegion, ApiError } from './api.js';

const $ = (sel) => document.querySelector(sel);
const GRID_FRAME_MS = 1000; // about one frame a second
const GRID_LIST_MS = 5000; // statuses and addresses

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') node.className = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) node.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) node.append(c);
  return node;
}

function say(text, isError = false) {
  const s = $('#status');
  s.textContent = text;
  s.classList.toggle('error', isError);
}

function fail(e) {
  say(e instanceof ApiError ? e.message : String(e), true);
}

function show(id) {
  for (const v of ['#sign-in', '#grid-view', '#instance-view', '#images-view']) $(v).hidden = v !== id;
}

const list = (reply, outer, inner) => (reply[outer] && reply[outer][inner]) || [];
const addresses = (inst) => [
  ...list(inst.VpcAttributes || {}, 'PrivateIpAddress', 'IpAddress'),
  ...list(inst, 'PublicIpAddress', 'IpAddress'),
].join(', ') || 'no address';

async function allInstances() {
  const out = [];
  for (let page = 1; ; page++) {
    const reply = await call('ecs', 'DescribeInstances', { PageSize: 100, PageNumber: page });
    const items = list(reply, 'Instances', 'Instance');
    out.push(...items);
    if (out.length >= reply.TotalCount || items.length === 0) return out;
  }
}

// ---- the grid ------------------------------------------------------------------------------------
let grid = null;

function stopGrid() {
  if (grid) { clearTimeout(grid.frameTimer); clearTimeout(grid.listTimer); grid.stopped = true; }
  grid = null;
}

function startGrid() {
  stopGrid();
  show('#grid-view');
  const state = { instances: [], hashes: new Map(), cards: new Map(), stopped: false, frames: 0 };
  grid = state;
  window.ecslabGrid = state; // read by the tests: counts of frames received
  const refreshList = async () => {
    try {
      state.instances = await allInstances();
      renderCards(state);
      say(`${state.instances.length} instance(s)`);
    } catch (e) { fail(e); }
    if (!state.stopped) state.listTimer = setTimeout(refreshList, GRID_LIST_MS);
  };
  const refreshFrames = async () => {
    const started = performance.now();
    try { await pullScreens(state); } catch (e) { fail(e); }
    if (!state.stopped) {
      state.frameTimer = setTimeout(refreshFrames, Math.max(0, GRID_FRAME_MS - (performance.now() - started)));
    }
  };
  refreshList().then(refreshFrames);
}

function renderCards(state) {
  const ul = $('#grid');
  const seen = new Set();
  for (const inst of state.instances) {
    const id = inst.InstanceId;
    seen.add(id);
    let card = state.cards.get(id);
    if (!card) {
      const img = el('img', { alt: `Screen of ${id}`, hidden: true });
      const none = el('div', { class: 'noscreen' }, 'no screen');
      const title = el('h2');
      const meta = el('p', { class: 'meta' });
      const link = el('a', { href: `#/instance/${id}` }, img, none, title, meta);
      card = { li: el('li', { class: 'card', 'data-instance-id': id }, link), img, none, title, meta };
      state.cards.set(id, card);
      ul.append(card.li);
    }
    card.title.textContent = inst.InstanceName || id;
    card.meta.replaceChildren(el('span', { class: `badge ${inst.Status}` }, inst.Status), ` ${id} · ${addresses(inst)}`);
    if (inst.Status !== 'Running') {
      card.img.hidden = true;
      card.none.hidden = false;
      state.hashes.delete(id);
    }
  }
  for (const [id, card] of state.cards) {
    if (!seen.has(id)) { card.li.remove(); state.cards.delete(id); state.hashes.delete(id); }
  }
}

async function pullScreens(state) {
  const running = state.instances.filter((i) => i.Status === 'Running').map((i) => i.InstanceId);
  for (let at = 0; at < running.length; at += 100) {
    const params = {};
    running.slice(at, at + 100).forEach((id, n) => {
      params[`Screen.${n + 1}.InstanceId`] = id;
      if (state.hashes.has(id)) params[`Screen.${n + 1}.Hash`] = state.hashes.get(id);
    });
    const reply = await call('console', 'DescribeScreens', params);
    for (const s of reply.Screens || []) {
      const card = state.cards.get(s.InstanceId);
      if (!card) continue;
      state.hashes.set(s.InstanceId, s.Hash);
      card.img.src = `data:image/jpeg;base64,${s.Screenshot}`;
      card.img.hidden = false;
      card.none.hidden = true;
      card.li.dataset.hash = s.Hash;
      state.frames++;
    }
    for (const u of reply.Unavailable || []) {
      const card = state.cards.get(u.InstanceId);
      if (card && u.Code !== 'Throttling') { card.img.hidden = true; card.none.hidden = false; card.none.textContent = u.Code; }
    }
  }
}

// ---- one instance --------------------------------------------------------------------------------
let rfb = null;

function disconnectConsole() {
  if (rfb) { rfb.disconnect(); rfb = null; }
}

async function showInstance(id) {
  show('#instance-view');
  const view = $('#instance-view');
  view.replaceChildren(el('p', {}, 'Loading…'));
  try {
    const reply = await call('ecs', 'DescribeInstances', { InstanceIds: JSON.stringify([id]) });
    const inst = list(reply, 'Instances', 'Instance')[0];
    if (!inst) throw new ApiError('InvalidInstanceId.NotFound', `No instance ${id}.`, 404);
    const power = (action, label, enabled) => el('button', {
      type: 'button', disabled: !enabled, onclick: () => act(() => call('ecs', action, { InstanceId: id }), `${label} ${id}`, () => showInstance(id)),
    }, label);
    const screen = el('div', { class: 'screen', id: 'vnc-screen', 'aria-label': 'Interactive console' });
    const running = inst.Status === 'Running';
    view.replaceChildren(
      el('h1', {}, inst.InstanceName || id),
      el('p', { class: 'meta' }, el('span', { class: `badge ${inst.Status}`, id: 'instance-status' }, inst.Status), ` ${id} · ${addresses(inst)} · ${inst.InstanceType} · ${inst.ImageId}`),
      el('div', { class: 'actions' },
        power('StartInstance', 'Start', inst.Status === 'Stopped'),
        power('StopInstance', 'Stop', running),
        power('RebootInstance', 'Reboot', running),
        el('button', { type: 'button', id: 'connect-console', disabled: !running, onclick: () => connectConsole(id, screen) }, 'Open console')),
      el('div', { class: 'detail' },
        el('section', { class: 'panel', 'aria-labelledby': 'console-title' }, el('h2', { id: 'console-title' }, 'Console'), screen),
        el('div', {},
          el('section', { class: 'panel', id: 'disks', 'aria-labelledby': 'disks-title' }, el('h2', { id: 'disks-title' }, 'Disks and snapshots')),
          el('section', { class: 'panel', id: 'image', 'aria-labelledby': 'image-title' }, el('h2', { id: 'image-title' }, 'Image changes')),
          el('section', { class: 'panel', id: 'jobs', 'aria-labelledby': 'jobs-title' }, el('h2', { id: 'jobs-title' }, 'Screenshot jobs')))));
    say(`${id}: ${inst.Status}`);
    await Promise.all([renderDisks(id, inst.Status), renderImageRecords(id), renderJobs(id)]);
  } catch (e) { fail(e); }
}

async function act(run, what, then) {
  say(`${what}…`);
  try { await run(); say(`${what}: done`); } catch (e) { fail(e); }
  if (then) await then();
}

async function connectConsole(id, screen) {
  disconnectConsole();
  let RFB;
  try {
    ({ default: RFB } = await import('./novnc/core/rfb.js'));
  } catch (e) {
    say('noVNC is not bundled: run scripts/build-console', true);
    return;
  }
  try {
    const reply = await call('ecs', 'DescribeInstanceVncUrl', { InstanceId: id });
    const url = new URL(reply.VncUrl, location.href);
    screen.replaceChildren();
    rfb = new RFB(screen, url.href);
    rfb.scaleViewport = true;
    rfb.focusOnClick = true;
    rfb.addEventListener('connect', () => { say(`Console of ${id} connected`); screen.dataset.connected = 'true'; rfb.focus(); });
    rfb.addEventListener('disconnect', () => { say(`Console of ${id} closed`); screen.dataset.connected = 'false'; });
  } catch (e) { fail(e); }
}

async function renderDisks(id, status) {
  const panel = $('#disks');
  const disks = list(await call('ecs', 'DescribeDisks', { InstanceId: id, PageSize: 100 }), 'Disks', 'Disk');
  for (const disk of disks) {
    const snaps = list(await call('ecs', 'DescribeSnapshots', { DiskId: disk.DiskId, PageSize: 100 }), 'Snapshots', 'Snapshot')
      .sort((a, b) => a.CreationTime.localeCompare(b.CreationTime));
    // The parent links (the console's private DescribeSnapshotTree): children under their parent.
    const tree = await call('console', 'DescribeSnapshotTree', { DiskId: disk.DiskId });
    const parentOf = new Map((tree.Snapshots || []).map((n) => [n.SnapshotId, n.ParentSnapshotId]));
    const shown = new Set(snaps.map((s) => s.SnapshotId)); // a parent not listed here: shown as a root
    const name = el('input', { 'aria-label': `New snapshot name for ${disk.DiskId}`, value: `console-${Date.now() % 100000}`, class: 'snap-name' });
    const node = (s) => el('li', { 'data-snapshot-id': s.SnapshotId },
      `${s.SnapshotName || s.SnapshotId} (${s.SnapshotId}, ${s.Status}, ${s.CreationTime}) `,
      tree.CurrentParentSnapshotId === s.SnapshotId ? el('strong', {}, '← the disk now ') : null,
      el('button', { type: 'button', disabled: status !== 'Stopped' || s.Status !== 'accomplished', title: 'The instance must be stopped',
        onclick: () => act(() => call('ecs', 'ResetDisk', { DiskId: disk.DiskId, SnapshotId: s.SnapshotId }), `Reset ${disk.DiskId} to ${s.SnapshotId}`, () => showInstance(id)) }, 'Reset to'),
      ' ',
      el('button', { type: 'button',
        onclick: () => act(() => call('ecs', 'DeleteSnapshot', { SnapshotId: s.SnapshotId }), `Delete ${s.SnapshotId}`, () => showInstance(id)) }, 'Delete'),
      branch(s.SnapshotId));
    const branch = (parent) => {
      const children = snaps.filter((s) => (shown.has(parentOf.get(s.SnapshotId)) ? parentOf.get(s.SnapshotId) : '') === parent);
      return children.length ? el('ul', { class: 'tree' }, children.map(node)) : null;
    };
    const roots = branch('');
    if (roots) roots.setAttribute('aria-label', `Snapshot tree of ${disk.DiskId}`);
    panel.append(el('h3', {}, `${disk.DiskId} (${disk.Type}, ${disk.Size} GiB)`),
      el('form', { class: 'actions', onsubmit: (ev) => { ev.preventDefault(); act(() => call('ecs', 'CreateSnapshot', { DiskId: disk.DiskId, SnapshotName: name.value }), `Snapshot of ${disk.DiskId}`, () => showInstance(id)); } },
        name, el('button', { type: 'submit', class: 'create-snapshot' }, 'Create snapshot')),
      roots || el('p', { class: 'meta' }, 'No snapshots.'));
  }
}

async function renderImageRecords(id) {
  const panel = $('#image');
  const reply = await call('ecd', 'DescribeImageModifiedRecords', { DesktopId: id, MaxResults: 20 });
  const records = reply.ImageModifiedRecords || [];
  panel.append(records.length
    ? el('table', {}, el('tr', {}, el('th', {}, 'When'), el('th', {}, 'From'), el('th', {}, 'To'), el('th', {}, 'Status')),
      records.map((r) => el('tr', {}, el('td', {}, r.UpdateTime || ''), el('td', {}, r.MinDesktopImageName || r.MinDesktopImageId || ''),
        el('td', {}, r.NewImageName || r.NewImageId || ''), el('td', {}, String(r.Status ?? '')))))
    : el('p', { class: 'meta' }, 'No image changes.'));
}

async function renderJobs(id) {
  const panel = $('#jobs');
  const reply = await call('mts', 'QuerySnapshotJobList', { MaximumPageSize: 100 });
  const jobs = list(reply, 'SnapshotJobList', 'SnapshotJob').filter((j) => j.Input && j.Input.InstanceId === id);
  panel.append(jobs.length
    ? el('ul', { class: 'jobs' }, jobs.map((j) => {
      const frames = el('div', { class: 'frames', 'aria-live': 'polite' });
      return el('li', { 'data-job-id': j.Id }, `${j.Id}: ${j.State}, ${j.Count ?? 0} frame(s) → `,
        el('code', {}, frameNames(j)), ' ',
        el('button', { type: 'button', class: 'show-frames', onclick: () => showFrames(j.Id, frames) }, 'Show frames'),
        frames);
    }))
    : el('p', { class: 'meta' }, 'No screenshot jobs of this instance.'));
}

function frameNames(job) {
  const out = job.SnapshotConfig && job.SnapshotConfig.OutputFile;
  return out ? `${out.Bucket}/${out.Object}` : '';
}

// A job's newest images, read back from their bucket by the console's private DescribeJobFrames.
async function showFrames(jobId, box) {
  say(`Frames of job ${jobId}…`);
  try {
    const reply = await call('console', 'DescribeJobFrames', { JobId: jobId, MaxFrames: 12 });
    const frames = reply.Frames || [];
    box.replaceChildren(
      el('p', { class: 'meta' }, `${frames.length} of ${reply.TotalCount} image(s), newest last`),
      el('ul', { class: 'frame-list' }, frames.map((f) => el('li', {},
        el('figure', {},
          f.Image
            ? el('img', { src: `data:image/jpeg;base64,${f.Image}`, alt: `${f.Kind} ${f.Bucket}/${f.Object}`, 'data-object': f.Object })
            : el('div', { class: 'noscreen' }, f.Missing === 'Gone' ? 'deleted from the bucket' : 'too large to show'),
          el('figcaption', {}, `${f.Kind === 'Sheet' ? 'sheet ' : ''}${f.Bucket}/${f.Object}`))))));
    say(`Frames of job ${jobId}: ${frames.length} shown`);
  } catch (e) { fail(e); }
}

// ---- images --------------------------------------------------------------------------------------
async function showImages() {
  show('#images-view');
  const box = $('#images');
  try {
    const images = list(await call('ecs', 'DescribeImages', { PageSize: 100 }), 'Images', 'Image');
    box.replaceChildren(el('table', {}, el('tr', {}, el('th', {}, 'Image'), el('th', {}, 'Name'), el('th', {}, 'Status'), el('th', {}, 'Size')),
      images.map((i) => el('tr', {}, el('td', {}, i.ImageId), el('td', {}, i.ImageName), el('td', {}, i.Status), el('td', {}, `${i.Size} GiB`)))));
    say(`${images.length} image(s)`);
  } catch (e) { fail(e); }
}

// ---- routing and sign-in -------------------------------------------------------------------------
function route() {
  stopGrid();
  disconnectConsole();
  $('#sign-out').hidden = !credentials();
  if (!credentials()) { show('#sign-in'); $('#ak-id').focus(); return; }
  const hash = location.hash || '#/';
  const m = hash.match(/^#\/instance\/([\w-]+)$/);
  if (m) showInstance(m[1]);
  else if (hash === '#/images') showImages();
  else startGrid();
}

$('#sign-in-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  signIn($('#ak-id').value.trim(), $('#ak-secret').value, $('#ak-token').value.trim());
  setRegion($('#ak-region').value.trim());
  $('#ak-secret').value = '';
  $('#ak-token').value = '';
  try {
    await call('ecs', 'DescribeInstances', { PageSize: 1 });
    say('Signed in');
    route();
  } catch (e) {
    signOut();
    fail(e);
  }
});
$('#sign-out').addEventListener('click', () => { signOut(); say('Signed out'); route(); });
window.addEventListener('hashchange', route);
route();
