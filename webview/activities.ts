// The Activities report: the role's hash-chained trail as a filtered, sorted,
// paged table (the role pages it: 100,000 records stay fast), CSV export,
// Verify trail with its result, and uploads and bytes per day as a chart
// (uPlot, bundled; canvas only, so it needs nothing the panel's policy forbids).
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-single-select/index.js';
import '@vscode-elements/elements/dist/vscode-option/index.js';
import '@vscode-elements/elements/dist/vscode-textfield/index.js';
import uPlot from 'uplot';
import { el, HostError, PanelHost } from './shared/host';
import type { ActivitiesSetup, ActivityFilter, ActivityPage, ActivitySearch, DailyUploads, TrailCheck } from './shared/protocol';

type SortBy = NonNullable<ActivitySearch['sort']>['by'];

interface State {
  filter: ActivityFilter;
  sort: NonNullable<ActivitySearch['sort']>;
  offset: number;
}

interface Control extends HTMLElement {
  value: string;
  disabled: boolean;
  invalid: boolean;
}

const PAGE = 100;
const host = new PanelHost<State>();
const app = document.getElementById('app')!;
let state: State = host.state ?? { filter: {}, sort: { by: 'seq', direction: 'desc' }, offset: 0 };
let setup: ActivitiesSetup;
const inputs = new Map<keyof ActivityFilter, Control>();
const errors = new Map<string, HTMLElement>();
let tbody: HTMLElement;
let pageInfo: HTMLElement;
let prev: Control;
let next: Control;
let banner: HTMLElement;
let chartBox: HTMLElement;
let chart: uPlot | undefined;
let total = 0;
const headers = new Map<SortBy, HTMLElement>();

function save(): void {
  host.state = state;
}

function setBanner(kind: 'info' | 'error' | 'ok' | 'warning', text: string, lines: string[] = []): void {
  banner.className = `banner ${kind}`;
  banner.replaceChildren(el('div', {}, text), ...(lines.length ? [el('ul', {}, ...lines.map((l) => el('li', {}, l)))] : []));
  banner.hidden = false;
}

function showIssues(error: unknown): void {
  const issues = error instanceof HostError ? error.issues : [];
  for (const i of issues) {
    const e = errors.get(i.field);
    if (e) e.textContent = i.message;
    const input = inputs.get(i.field as keyof ActivityFilter);
    if (input) input.invalid = true;
  }
  setBanner('error', (error as Error).message, issues.filter((i) => !errors.has(i.field)).map((i) => `${i.field}: ${i.message}`));
}

function clearIssues(): void {
  for (const e of errors.values()) e.textContent = '';
  for (const i of inputs.values()) i.invalid = false;
  banner.hidden = true;
}

function readFilter(): ActivityFilter {
  const f: ActivityFilter = {};
  for (const [k, input] of inputs) {
    const v = input.value.trim();
    if (!v) continue;
    if (k === 'types') f.types = [v];
    else f[k] = v;
  }
  return f;
}

async function load(): Promise<void> {
  clearIssues();
  tbody.setAttribute('aria-busy', 'true');
  try {
    const page = await host.request<ActivityPage>('search', { ...state.filter, sort: state.sort, offset: state.offset, limit: PAGE });
    total = page.total;
    tbody.replaceChildren(
      ...page.records.map((r) =>
        el('tr', { 'data-seq': String(r.seq) },
          el('td', { class: 'num' }, String(r.seq)),
          el('td', { class: 'mono nowrap', title: r.time }, r.localTime),
          el('td', {}, r.type),
          el('td', {}, r.user ?? ''),
          el('td', {}, r.summary),
        ),
      ),
    );
    if (page.records.length === 0) tbody.replaceChildren(el('tr', {}, el('td', { colspan: '5', class: 'muted' }, 'No activity matches these filters.')));
    const first = page.records.length ? page.offset + 1 : 0;
    pageInfo.textContent = `${first.toLocaleString('en')}–${(page.offset + page.records.length).toLocaleString('en')} of ${page.total.toLocaleString('en')}`;
    prev.disabled = page.offset === 0;
    next.disabled = page.offset + page.records.length >= page.total;
  } catch (error) {
    showIssues(error);
  } finally {
    tbody.removeAttribute('aria-busy');
  }
  for (const [by, th] of headers) th.setAttribute('aria-sort', state.sort.by === by ? (state.sort.direction === 'asc' ? 'ascending' : 'descending') : 'none');
  void drawChart();
}

async function drawChart(): Promise<void> {
  try {
    const days = await host.request<DailyUploads[]>('daily', { from: state.filter.from, to: state.filter.to });
    chart?.destroy();
    chart = undefined;
    if (days.length === 0) {
      chartBox.replaceChildren(el('p', { class: 'muted' }, 'No uploads in this range.'));
      return;
    }
    chartBox.replaceChildren();
    const xs = days.map((d) => Date.parse(`${d.day}T00:00:00Z`) / 1000);
    const style = getComputedStyle(document.body);
    const fg = style.getPropertyValue('--vscode-foreground').trim() || '#888';
    const accent = style.getPropertyValue('--vscode-charts-blue').trim() || '#3794ff';
    const accent2 = style.getPropertyValue('--vscode-charts-orange').trim() || '#d18616';
    chart = new uPlot(
      {
        title: 'Uploads and bytes per day',
        width: Math.min(840, Math.max(320, chartBox.clientWidth || 760)),
        height: 220,
        tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC'),
        // The days listed, and half a day on each side: left to itself, uPlot stretches a
        // single day (or a few) over years.
        scales: { x: { time: true, range: () => [xs[0]! - 43_200, xs[xs.length - 1]! + 43_200] }, bytes: {} },
        axes: [
          { stroke: fg, grid: { stroke: 'rgba(128,128,128,0.2)' } },
          { stroke: fg, label: 'uploads', grid: { stroke: 'rgba(128,128,128,0.2)' } },
          { stroke: fg, side: 1, scale: 'bytes', label: 'MB', values: (_u, vals) => vals.map((v) => (v / 1e6).toFixed(1)) },
        ],
        series: [
          { label: 'day' },
          { label: 'uploads', stroke: accent, fill: `${accent}33`, paths: uPlot.paths.bars!({ size: [0.6, 40] }) },
          { label: 'bytes', stroke: accent2, scale: 'bytes', width: 2 },
        ],
      },
      [xs, days.map((d) => d.uploads), days.map((d) => d.bytes)],
      chartBox,
    );
    chartBox.setAttribute('aria-label', `Uploads per day: ${days.map((d) => `${d.day} ${d.uploads} uploads, ${(d.bytes / 1e6).toFixed(1)} MB`).join('; ')}`);
  } catch (error) {
    chartBox.replaceChildren(el('p', { class: 'muted' }, `No chart: ${(error as Error).message}`));
  }
}

function filterField(key: keyof ActivityFilter, label: string, placeholder: string): HTMLElement {
  const input = el('vscode-textfield', { id: `filter-${key}`, placeholder, 'aria-label': label }) as unknown as Control;
  input.value = key === 'types' ? (state.filter.types?.[0] ?? '') : ((state.filter[key] as string | undefined) ?? '');
  input.addEventListener('keydown', (e) => {
    if ((e as KeyboardEvent).key === 'Enter') search();
  });
  inputs.set(key, input);
  const error = el('div', { class: 'error', id: `filter-${key}-error`, role: 'alert' });
  errors.set(key, error);
  return el('div', { class: 'field' }, el('label', { for: `filter-${key}` }, label), input, error);
}

function typeField(): HTMLElement {
  const select = el('vscode-single-select', { id: 'filter-types', 'aria-label': 'Type' }) as unknown as Control;
  select.append(el('vscode-option', { value: '' }, 'All types'), ...setup.types.map((t) => el('vscode-option', { value: t }, t)));
  select.value = state.filter.types?.[0] ?? '';
  select.addEventListener('change', () => search());
  inputs.set('types', select);
  errors.set('types', el('div', { class: 'error', role: 'alert' }));
  return el('div', { class: 'field' }, el('label', { for: 'filter-types' }, 'Type'), select, errors.get('types')!);
}

function search(): void {
  state = { ...state, filter: readFilter(), offset: 0 };
  save();
  void load();
}

function sortHeader(by: SortBy, label: string): HTMLElement {
  const button = el('button', { class: 'sort', type: 'button' }, label);
  button.addEventListener('click', () => {
    state = { ...state, sort: { by, direction: state.sort.by === by && state.sort.direction === 'desc' ? 'asc' : 'desc' }, offset: 0 };
    save();
    void load();
  });
  const th = el('th', { scope: 'col', 'aria-sort': 'none' }, button);
  headers.set(by, th);
  return th;
}

function build(): void {
  banner = el('div', { class: 'banner', role: 'status', 'aria-live': 'polite', hidden: '' });
  const go = el('vscode-button', { id: 'search' }, 'Search');
  go.addEventListener('click', () => search());
  const clear = el('vscode-button', { id: 'clear-filters', secondary: '' }, 'Clear');
  clear.addEventListener('click', () => {
    for (const i of inputs.values()) i.value = '';
    search();
  });
  const csv = el('vscode-button', { id: 'export-csv', secondary: '', icon: 'desktop-download' }, 'Export CSV…');
  csv.addEventListener('click', () => void (async () => {
    try {
      const file = await host.request<string | null>('exportCsv', state.filter);
      if (file) setBanner('ok', `Exported to ${file}.`);
    } catch (error) {
      showIssues(error);
    }
  })());
  const verify = el('vscode-button', { id: 'verify', secondary: '', icon: 'verified' }, 'Verify trail');
  verify.addEventListener('click', () => void (async () => {
    try {
      const r = await host.request<TrailCheck>('verify');
      const anchors = r.anchors?.summary ?? [];
      if (r.ok && r.anchors?.ok === false) setBanner('error', 'The hash chain is intact, but the trail does NOT match the anchors the service keeps: it was rewritten.', anchors);
      else if (r.ok) setBanner('ok', `The activity trail verifies: ${r.records.toLocaleString('en')} records, the hash chain is intact.`, anchors);
      else setBanner('error', `The activity trail does NOT verify (${r.problems.length} problem(s)).`, r.problems.map((p) => `${p.line !== undefined ? `line ${p.line}: ` : ''}${p.message}`));
    } catch (error) {
      showIssues(error);
    }
  })());
  prev = el('vscode-button', { id: 'prev', secondary: '' }, 'Previous') as unknown as Control;
  next = el('vscode-button', { id: 'next', secondary: '' }, 'Next') as unknown as Control;
  prev.addEventListener('click', () => {
    state = { ...state, offset: Math.max(0, state.offset - PAGE) };
    save();
    void load();
  });
  next.addEventListener('click', () => {
    if (state.offset + PAGE >= total) return;
    state = { ...state, offset: state.offset + PAGE };
    save();
    void load();
  });
  pageInfo = el('span', { id: 'page-info', class: 'muted', 'aria-live': 'polite' });
  tbody = el('tbody', { id: 'rows' });
  chartBox = el('div', { id: 'chart', role: 'img' });
  app.replaceChildren(
    el('h1', {}, 'Activities report'),
    el('p', { class: 'lead' }, `The role's activity trail. Times are local (UTC${setup.offsetMinutes >= 0 ? '+' : '-'}${String(Math.floor(Math.abs(setup.offsetMinutes) / 60)).padStart(2, '0')}:${String(Math.abs(setup.offsetMinutes) % 60).padStart(2, '0')}); hover a time for UTC.`),
    banner,
    el('div', { class: 'filters' },
      filterField('from', 'From', 'YYYY-MM-DD HH:MM'),
      filterField('to', 'To', 'YYYY-MM-DD HH:MM'),
      typeField(),
      filterField('user', 'User', 'login name'),
      filterField('camera', 'Camera', 'camera id or name'),
      filterField('text', 'Text', 'words in the summary'),
    ),
    el('div', { class: 'row' }, go, clear, csv, verify),
    chartBox,
    el('table', { class: 'grid', id: 'activities', 'aria-label': 'Activity records' },
      el('thead', {}, el('tr', {}, sortHeader('seq', '#'), sortHeader('time', 'Time'), sortHeader('type', 'Type'), sortHeader('user', 'User'), el('th', { scope: 'col' }, 'Summary'))),
      tbody,
    ),
    el('div', { class: 'row pager' }, prev, next, pageInfo),
  );
  app.removeAttribute('aria-busy');
}

host.onUpdate('activities', () => {
  // New records: the first page (newest first) shows them; a later page stays where the operator is.
  if (state.offset === 0) void load();
});

void (async () => {
  host.ready();
  try {
    setup = await host.request<ActivitiesSetup>('setup');
    build();
    await load();
  } catch (error) {
    app.replaceChildren(el('h1', {}, 'Activities report'), el('div', { class: 'banner error', role: 'alert' }, (error as Error).message));
    app.removeAttribute('aria-busy');
  }
})();
