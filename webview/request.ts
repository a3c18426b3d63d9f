// The request review panel: what an investigator asked for, the video of each
// camera over exactly that range (a clip the role cuts; the requested range
// marked on a timeline under the player), the decision, and afterwards the
// files sent with their SHA-256. Every text from the service goes in as text.
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-textfield/index.js';
import { el, HostError, PanelHost } from './shared/host';
import type { RequestView, ReviewClipView } from './shared/protocol';

interface State {
  requestId?: string;
  /** A deny reason or an unavailable note being typed. */
  reason?: string;
  /** The camera under review (shown again when the page is restored). */
  reviewCamera?: string | undefined;
}

interface Control extends HTMLElement {
  value: string;
  disabled: boolean;
}

const host = new PanelHost<State>();
const app = document.getElementById('app')!;
let state: State = host.state ?? {};
let view: RequestView | undefined;
const banner = el('div', { class: 'banner', role: 'status', 'aria-live': 'polite', hidden: '' });
const player = el('section', { id: 'player', 'aria-label': 'Review video' });
const top = document.createElement('div');
const bottom = document.createElement('div');

function save(): void {
  host.state = state;
}

function setBanner(kind: 'info' | 'error' | 'ok' | 'warning', text: string): void {
  banner.className = `banner ${kind}`;
  banner.textContent = text;
  banner.hidden = false;
}

function failed(error: unknown): void {
  const issues = error instanceof HostError ? error.issues.map((i) => `${i.field}: ${i.message}`) : [];
  setBanner('error', [(error as Error).message, ...issues].join(' — '));
}

function bytes(n: number): string {
  if (n < 1000) return `${n} B`;
  if (n < 1e6) return `${(n / 1e3).toFixed(1)} kB`;
  if (n < 1e9) return `${(n / 1e6).toFixed(1)} MB`;
  return `${(n / 1e9).toFixed(1)} GB`;
}

function dl(rows: [string, string | undefined | null][]): HTMLElement {
  return el('dl', { class: 'facts' }, ...rows.filter(([, v]) => v !== undefined && v !== null && v !== '').flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v!)]));
}

/** The clip under review, the requested range marked on a timeline, the playhead moving over it. */
function showClip(clip: ReviewClipView): void {
  const video = el('video', { id: 'review-video', controls: '', preload: 'metadata', src: clip.src, 'aria-label': `Recording of ${clip.cameraName}` });
  const clipStart = Date.parse(clip.clipStartUtc);
  const from = Date.parse(clip.fromUtc);
  const to = Date.parse(clip.toUtc);
  const span = Math.max(to, clipStart + clip.durationSeconds * 1000) - Math.min(from, clipStart);
  const origin = Math.min(from, clipStart);
  const pct = (t: number) => `${(((t - origin) / span) * 100).toFixed(2)}%`;
  const range = el('div', { class: 'timeline-range', title: 'requested range' });
  range.style.left = pct(from);
  range.style.width = `${(((to - from) / span) * 100).toFixed(2)}%`;
  const recorded = el('div', { class: 'timeline-clip', title: 'recorded' });
  recorded.style.left = pct(clipStart);
  recorded.style.width = `${(((clip.durationSeconds * 1000) / span) * 100).toFixed(2)}%`;
  const head = el('div', { class: 'timeline-head' });
  head.style.left = pct(clipStart);
  const now = el('span', { id: 'review-position', class: 'mono' }, '');
  video.addEventListener('timeupdate', () => {
    const at = clipStart + video.currentTime * 1000;
    head.style.left = pct(at);
    now.textContent = new Date(at).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
  });
  player.replaceChildren(
    el('h2', {}, `Review: ${clip.cameraName}`),
    video,
    el('div', { class: 'timeline', role: 'img', 'aria-label': `Requested ${clip.fromUtc} to ${clip.toUtc}; recorded from ${clip.clipStartUtc} for ${clip.durationSeconds.toFixed(1)} s` }, recorded, range, head),
    el('div', { class: 'row muted' }, el('span', {}, 'Requested range marked; position: '), now),
  );
  player.dataset.camera = clip.cameraId;
  player.dataset.clipStart = clip.clipStartUtc;
  player.dataset.duration = String(clip.durationSeconds);
}

/** Asks the role for the camera's review clip and shows it; the camera is kept in the state, so a reloaded page shows it again. */
async function reviewCamera(requestId: string, cameraId: string, name: string): Promise<void> {
  state = { ...state, reviewCamera: cameraId };
  save();
  try {
    player.replaceChildren(el('p', { class: 'muted' }, `Cutting the review clip of ${name}…`));
    showClip(await host.request<ReviewClipView>('review', { requestId, camera: cameraId }));
  } catch (error) {
    player.replaceChildren();
    state = { ...state, reviewCamera: undefined };
    save();
    failed(error);
  }
}

async function act(command: string, args: Record<string, unknown> = {}): Promise<void> {
  try {
    view = await host.request<RequestView>(command, { requestId: state.requestId, ...args });
    state = { requestId: state.requestId };
    save();
    render();
    setBanner('ok', `Video request ${view.statusLabel.toLowerCase()}.`);
  } catch (error) {
    failed(error);
  }
}

function decisions(v: RequestView): HTMLElement {
  if (!v.may.decide) return el('div', {});
  const approve = el('vscode-button', { id: 'approve', icon: 'check' }, 'Approve');
  approve.addEventListener('click', () => void act('approve'));
  const reason = el('vscode-textfield', { id: 'reason', placeholder: 'Reason for the investigator (required to deny)', 'aria-label': 'Reason' }) as unknown as Control;
  reason.value = state.reason ?? '';
  reason.addEventListener('input', () => {
    state = { ...state, reason: reason.value };
    save();
  });
  const deny = el('vscode-button', { id: 'deny', secondary: '', icon: 'close' }, 'Deny');
  deny.addEventListener('click', () => {
    if (!reason.value.trim()) {
      setBanner('error', 'Give a reason: the investigator reads it.');
      reason.focus();
      return;
    }
    void act('deny', { reason: reason.value.trim() });
  });
  const none = el('vscode-button', { id: 'unavailable', secondary: '', icon: 'circle-slash' }, 'Video unavailable');
  none.addEventListener('click', () => void act('unavailable', { reason: reason.value.trim() }));
  return el('section', { 'aria-label': 'Decision' }, el('h2', {}, 'Decision'), el('div', { class: 'row' }, approve), el('div', { class: 'field' }, reason), el('div', { class: 'row' }, deny, none));
}

function render(): void {
  const v = view!;
  const cameras = el('table', { class: 'grid', id: 'cameras' },
    el('thead', {}, el('tr', {}, el('th', {}, 'Camera'), el('th', {}, 'Outcome'), el('th', {}, 'Upload'), el('th', {}, ''))),
    el('tbody', {}, ...v.cameras.map((c) => {
      const review = el('vscode-button', { secondary: '', icon: 'play', 'data-camera': c.id, class: 'review' }, 'Review video');
      review.addEventListener('click', () => void reviewCamera(v.requestId, c.id, c.name));
      return el('tr', {},
        el('td', {}, c.name),
        el('td', {}, [c.outcome, c.message].filter(Boolean).join(': ')),
        el('td', {}, c.upload ? `${c.upload.state} · ${c.upload.percent}%${c.upload.verified ? ' · verified by the service' : ''}` : ''),
        el('td', {}, ...(v.may.review ? [review] : [])),
      );
    })),
  );
  const files = v.cameras.flatMap((c) => c.files.map((f) => ({ camera: c.name, evidence: c.evidenceId, verified: c.upload?.verified ?? false, ...f })));
  const custody = el('vscode-button', { id: 'custody', secondary: '', icon: 'law' }, 'Save custody report…');
  custody.addEventListener('click', () => void (async () => {
    try {
      const saved = await host.request<{ html: string; json: string } | null>('custody', { requestId: v.requestId });
      if (saved) setBanner('ok', `Custody report saved: ${saved.html} (and ${saved.json}).`);
    } catch (error) {
      failed(error);
    }
  })());
  top.replaceChildren(
    el('h1', {}, `Video request · ${v.statusLabel}`),
    dl([
      ['Request', v.requestId],
      ['Requester', v.requester],
      ['Comments', v.comments || '—'],
      ['Range', `${v.from} – ${v.to}`],
      ['Incident', v.incident],
      ['Received', v.received],
      ['Case', v.caseId ?? 'none'],
      ['Decided by', v.decidedBy],
      ['Reason', v.denyReason],
      ['Error', v.error],
      ['Progress', v.progress ? `${v.progress.done} of ${v.progress.total} steps` : undefined],
    ]),
    el('h2', {}, 'Cameras'),
    cameras,
  );
  // The player stays where it is between renders: moving a <video> in the page would pause it.
  bottom.replaceChildren(
    decisions(v),
    ...(files.length
      ? [
          el('h2', {}, 'Files sent'),
          el('table', { class: 'grid', id: 'files' },
            el('thead', {}, el('tr', {}, el('th', {}, 'Camera'), el('th', {}, 'File'), el('th', {}, 'Size'), el('th', {}, 'SHA-256'), el('th', {}, 'Service'))),
            el('tbody', {}, ...files.map((f) => el('tr', {}, el('td', {}, f.camera), el('td', {}, f.name), el('td', { class: 'num' }, bytes(f.bytes)), el('td', { class: 'mono hash' }, f.sha256), el('td', {}, f.verified ? 'verified' : 'not yet')))),
          ),
        ]
      : []),
    el('h2', {}, 'History'),
    el('ol', { class: 'history' }, ...v.history.map((h) => el('li', {}, el('span', { class: 'mono' }, h.localTime), ' ', h.summary))),
    ...(v.may.custody ? [el('div', { class: 'actions' }, custody)] : []),
  );
  if (app.firstChild !== banner) app.replaceChildren(banner, top, player, bottom);
  app.removeAttribute('aria-busy');
}

async function open(requestId: string): Promise<void> {
  if (state.requestId !== requestId) state = { requestId };
  save();
  try {
    const loaded = await host.request<RequestView>('load', { requestId });
    if (state.requestId !== requestId) return; // another request was opened meanwhile
    view = loaded;
    render();
    const again = state.reviewCamera && view.may.review ? view.cameras.find((c) => c.id === state.reviewCamera) : undefined;
    if (again && !player.dataset.camera) void reviewCamera(requestId, again.id, again.name);
  } catch (error) {
    top.replaceChildren(el('h1', {}, 'Video request'));
    if (app.firstChild !== banner) app.replaceChildren(banner, top, player, bottom);
    failed(error);
    app.removeAttribute('aria-busy');
  }
}

host.onUpdate('open', (data) => void open((data as { requestId: string }).requestId));
host.onUpdate('request', () => {
  if (state.requestId) void open(state.requestId);
});

host.ready();
if (state.requestId) void open(state.requestId);
else app.replaceChildren(el('p', { class: 'muted' }, 'Open a video request from the Requests view.'));
