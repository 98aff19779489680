// <sb-sla>: the SLA policies and business-hour calendars the SLA clocks count by; leads read them, admins change them.
import { api } from '../console/api.js';
import { announce, guard, h, rerender } from '../console/dom.js';
import { label, onLangChange } from '../console/i18n.js';
import { directoryChanges, teamName } from '../console/state.js';
import { lt } from './strings.js';
import { selectField, teamOptions } from './common.js';

const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
const PRIORITIES = ['low', 'normal', 'high', 'urgent'];

/** Minutes as "8 h", "1 h 30 min" or "45 min"; a dash for no target. */
function minutes(m) {
  if (m === null || m === undefined) return lt('common.none');
  const [hrs, min] = [Math.floor(m / 60), m % 60];
  return [hrs ? `${hrs} h` : '', min || !hrs ? `${min} min` : ''].filter(Boolean).join(' ');
}

/** `09:00-12:00, 13:00-17:00` into `[["09:00","12:00"],["13:00","17:00"]]`; the server checks the times. */
const parseSpans = (text) => text.split(',').map((s) => s.trim()).filter(Boolean).map((s) => {
  const [from, to = ''] = s.split('-').map((t) => t.trim());
  return [from, to];
});
const formatSpans = (spans) => (spans || []).map(([a, b]) => `${a}-${b}`).join(', ');
const numberOrNull = (v) => (v === '' || v === undefined ? null : Number(v));

/** Select options that still offer the stored value when the list lacks it (a team not
 *  loaded yet, a calendar gone meanwhile), so saving never changes it unasked. */
const keep = (options, id, name) => (id === null || id === undefined || options.some(([v]) => v === String(id))
  ? options : [...options, [String(id), name(id) || `#${id}`]]);

/** A label, a control and an optional hint the control is described by. */
function labelled(id, text, control, hint) {
  if (hint) control.setAttribute('aria-describedby', `${id}-hint`);
  return h('div', { class: 'field compact' }, h('label', { for: id, text }), control,
    hint ? h('p', { class: 'muted field-hint', id: `${id}-hint`, text: hint }) : null);
}

class SbSla extends HTMLElement {
  constructor() {
    super();
    this.policies = [];
    this.calendars = [];
    this.loaded = false;
    this.editing = null; // `policy-new`, `policy-3`, `calendar-new`, `calendar-2`
    this.error = null; // { key, text, field } of the open form
    this.notice = { policy: '', calendar: '' };
  }

  connectedCallback() {
    if (this.body) return;
    this.body = h('div', { class: 'sla-body' });
    this.replaceChildren(this.body);
    onLangChange(() => this.render());
    directoryChanges.addEventListener('change', () => this.render());
    this.render();
  }

  get admin() {
    return this.closest('sb-lead')?.role === 'admin';
  }

  async show() {
    await this.reload();
  }

  async reload() {
    // The newest reload wins: an older answer arriving late must not show old data.
    const seq = (this.seq || 0) + 1;
    this.seq = seq;
    const [policies, calendars] = await Promise.all([api.get('/sla-policies'), api.get('/calendars')]);
    if (seq !== this.seq) return;
    this.policies = policies || [];
    this.calendars = calendars || [];
    this.loaded = true;
    this.render();
  }

  calendarName(id) {
    if (id === null || id === undefined) return lt('sla.aroundTheClock');
    return this.calendars.find((c) => c.id === id)?.name ?? `#${id}`;
  }

  render() {
    if (!this.body) return;
    // A language switch or a failed save must not wipe what the admin typed.
    const open = this.body.querySelector('form.sla-form');
    const draft = open && open.dataset.key === this.editing
      ? [...open.elements].filter((e) => e.name).map((e) => [e.name, e.type === 'checkbox' ? e.checked : e.value]) : null;
    rerender(this.body, () => [
      h('h1', { class: 'view-title', text: lt('sla.heading') }),
      this.admin ? null : h('p', { class: 'muted sla-readonly', text: lt('sla.readOnly') }),
      this.loaded ? null : h('p', { class: 'muted list-status', role: 'status', text: lt('common.loading') }),
      this.section('policy', this.policyTable()),
      this.section('calendar', this.calendarTable()),
    ]);
    const form = this.body.querySelector('form.sla-form');
    if (form && draft) {
      for (const [name, value] of draft) {
        const el = form.elements[name];
        if (el && el.type === 'checkbox') el.checked = value;
        else if (el) el.value = value;
      }
    }
  }

  section(kind, table) {
    const titleId = `sla-${kind}-title`;
    const creating = this.editing === `${kind}-new`;
    return h('section', { class: `sla-section sla-section-${kind}`, 'aria-labelledby': titleId },
      h('div', { class: 'sla-section-head' },
        h('h2', { class: 'section-title', id: titleId, text: lt(`sla.${kind}s`) }),
        this.admin ? h('button', {
          type: 'button', class: 'small sla-create', 'aria-expanded': creating ? 'true' : 'false',
          dataset: { focusKey: `${kind}-new` }, text: lt(`sla.new.${kind}`), onclick: () => this.toggle(`${kind}-new`),
        }) : null),
      h('p', { class: 'form-error sla-notice', role: 'alert', text: this.notice[kind] }),
      creating ? this.form(kind, null) : null,
      table);
  }

  actions(kind, item) {
    if (!this.admin) return null;
    const key = `${kind}-${item.id}`;
    const editing = this.editing === key;
    const button = (cls, text, aria, onclick) => h('button', {
      type: 'button', class: `small ${cls}`, dataset: { focusKey: `${cls}-${key}` }, text, 'aria-label': aria, onclick,
    });
    const buttons = [
      button('sla-edit', lt('sla.edit'), lt('sla.editLabel', { name: item.name }), () => this.toggle(key)),
      kind === 'policy'
        ? button('sla-active', lt(item.active ? 'sla.deactivate' : 'sla.activate'),
          lt(item.active ? 'sla.deactivateLabel' : 'sla.activateLabel', { name: item.name }),
          () => guard(this, this.setActive(item)))
        : null,
      button('sla-delete', lt('sla.delete'), lt('sla.deleteLabel', { name: item.name }), () => guard(this, this.remove(kind, item))),
    ];
    buttons[0].setAttribute('aria-expanded', editing ? 'true' : 'false');
    return h('td', { class: 'sla-actions' }, buttons);
  }

  /** The table of `items`, one row each; an item being edited gets its form in the row below. */
  table(kind, columns, items, cells) {
    const span = columns.length + (this.admin ? 1 : 0);
    return h('table', { class: `report-table sla-table sla-${kind}-table` },
      h('caption', { class: 'visually-hidden', text: lt(`sla.${kind}s`) }),
      h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col', text: lt(c) })),
        this.admin ? h('th', { scope: 'col', text: lt('sla.actions') }) : null)),
      h('tbody', {}, items.length ? items.flatMap((item) => [
        h('tr', { dataset: { id: item.id } }, h('th', { scope: 'row', text: item.name }),
          cells(item).map((text) => h('td', { text })), this.actions(kind, item)),
        this.editing === `${kind}-${item.id}` ? h('tr', { class: 'sla-form-row' }, h('td', { colspan: span }, this.form(kind, item))) : null,
      ]) : h('tr', {}, h('td', { colspan: span, class: 'muted', text: lt('sla.none') }))));
  }

  policyTable() {
    return this.table('policy',
      ['sla.name', 'common.team', 'sla.priority', 'sla.calendar', 'sla.firstResponse', 'sla.resolution', 'sla.warn', 'sla.active'],
      this.policies, (p) => [
        p.team_id ? teamName(p.team_id) : lt('sla.allTeams'),
        p.priority ? label('priority', p.priority) : lt('sla.allPriorities'),
        this.calendarName(p.calendar_id),
        minutes(p.first_response_minutes), minutes(p.resolution_minutes), minutes(p.warn_minutes),
        lt(p.active ? 'sla.yes' : 'sla.no'),
      ]);
  }

  calendarTable() {
    return this.table('calendar', ['sla.name', 'sla.timeZone', 'sla.hours', 'sla.holidays'], this.calendars, (c) => [
      c.time_zone,
      DAYS.filter((d) => c.hours[d]?.length).map((d) => `${lt(`sla.short.${d}`)} ${formatSpans(c.hours[d])}`).join('; ') || lt('common.none'),
      c.holidays.join(', ') || lt('common.none'),
    ]);
  }

  form(kind, item) {
    const key = `${kind}-${item ? item.id : 'new'}`;
    const error = this.error && this.error.key === key ? this.error : null;
    const fields = kind === 'policy' ? this.policyFields(item || { warn_minutes: 15, active: true }) : this.calendarFields(item || {});
    const form = h('form', {
      class: `sla-form sla-${kind}-form`, dataset: { key }, novalidate: true, 'aria-label': lt(item ? 'sla.editLabel' : `sla.new.${kind}`, { name: item?.name }),
      onsubmit: (e) => { e.preventDefault(); guard(this, this.save(kind, item, e.currentTarget)); },
    }, fields,
    h('p', { class: 'form-error', id: `${key}-error`, role: 'alert', tabindex: '-1', text: error ? error.text : '' }),
    h('div', { class: 'form-actions' },
      h('button', { type: 'submit', class: 'primary', text: lt('sla.save') }),
      h('button', { type: 'button', text: lt('sla.cancel'), onclick: () => this.toggle(key) })));
    const bad = error && error.name && form.elements[error.name];
    if (bad && bad.setAttribute) {
      bad.setAttribute('aria-invalid', 'true');
      bad.setAttribute('aria-errormessage', `${key}-error`);
    }
    return form;
  }

  policyFields(p) {
    const input = (name, value, props = {}) => labelled(`slap-${name}`, lt(`sla.${props.label || name}`),
      h('input', { id: `slap-${name}`, name, value: value ?? '', type: 'number', min: 1, inputmode: 'numeric' }), props.hint);
    return [
      labelled('slap-name', lt('sla.name'), h('input', { id: 'slap-name', name: 'name', value: p.name || '', required: true, maxlength: 200 })),
      selectField('slap-team', 'team_id', lt('common.team'),
        keep([['', lt('sla.allTeams')], ...teamOptions().slice(1)], p.team_id, teamName), p.team_id ?? ''),
      selectField('slap-priority', 'priority', lt('sla.priority'),
        [['', lt('sla.allPriorities')], ...PRIORITIES.map((x) => [x, label('priority', x)])], p.priority ?? ''),
      selectField('slap-calendar', 'calendar_id', lt('sla.calendar'),
        keep([['', lt('sla.aroundTheClock')], ...this.calendars.map((c) => [String(c.id), c.name])], p.calendar_id,
          (id) => this.calendarName(id)), p.calendar_id ?? ''),
      input('first_response_minutes', p.first_response_minutes, { label: 'firstResponseMinutes', hint: lt('sla.minutesHint') }),
      input('resolution_minutes', p.resolution_minutes, { label: 'resolutionMinutes' }),
      input('warn_minutes', p.warn_minutes, { label: 'warnMinutes' }),
      h('div', { class: 'field compact sla-check' },
        h('input', { id: 'slap-active', name: 'active', type: 'checkbox', checked: !!p.active }),
        h('label', { for: 'slap-active', text: lt('sla.active') })),
    ];
  }

  calendarFields(c) {
    const hours = c.hours || {};
    return [
      labelled('slac-name', lt('sla.name'), h('input', { id: 'slac-name', name: 'name', value: c.name || '', required: true, maxlength: 200 })),
      labelled('slac-tz', lt('sla.timeZone'), h('input', { id: 'slac-tz', name: 'time_zone', value: c.time_zone || '', autocomplete: 'off', spellcheck: 'false' }), lt('sla.timeZoneHint')),
      h('fieldset', { class: 'sla-days', 'aria-describedby': 'slac-days-hint' },
        h('legend', { text: lt('sla.hours') }),
        h('p', { class: 'muted field-hint', id: 'slac-days-hint', text: lt('sla.hoursHint') }),
        DAYS.map((d) => labelled(`slac-${d}`, lt(`sla.day.${d}`),
          h('input', { id: `slac-${d}`, name: d, value: formatSpans(hours[d]), autocomplete: 'off', spellcheck: 'false' })))),
      labelled('slac-holidays', lt('sla.holidays'),
        h('textarea', { id: 'slac-holidays', name: 'holidays', rows: 3, value: (c.holidays || []).join('\n') }), lt('sla.holidaysHint')),
    ];
  }

  /** Opens or closes a form; focus goes to its first field, or back to what opened it. */
  toggle(key) {
    const opening = this.editing !== key;
    this.editing = opening ? key : null;
    this.error = null;
    this.notice = { policy: '', calendar: '' };
    this.render();
    const target = opening
      ? this.body.querySelector('form.sla-form input, form.sla-form select')
      : this.body.querySelector(`[data-focus-key="${key.endsWith('-new') ? key : `sla-edit-${key}`}"]`);
    if (target) target.focus();
  }

  /** The request body, or a field error for a number the browser could not read. */
  bodyOf(kind, form) {
    const v = (name) => String(form.elements[name].value).trim();
    for (const el of form.querySelectorAll('input[type=number]')) {
      if (el.validity.badInput || (el.value !== '' && !Number.isInteger(Number(el.value)))) {
        const error = new Error(lt('sla.wholeMinutes'));
        error.status = 422;
        error.field = el.name;
        error.problem = { detail: lt('sla.wholeMinutes') };
        throw error;
      }
    }
    if (kind === 'calendar') {
      const hours = {};
      for (const d of DAYS) if (v(d)) hours[d] = parseSpans(v(d));
      return { name: v('name'), time_zone: v('time_zone'), hours, holidays: v('holidays').split(/[\s,]+/).filter(Boolean) };
    }
    const body = {
      name: v('name'),
      team_id: numberOrNull(v('team_id')),
      priority: v('priority') || null,
      calendar_id: numberOrNull(v('calendar_id')),
      first_response_minutes: numberOrNull(v('first_response_minutes')),
      resolution_minutes: numberOrNull(v('resolution_minutes')),
      active: form.elements.active.checked,
    };
    if (v('warn_minutes')) body.warn_minutes = Number(v('warn_minutes'));
    return body;
  }

  async save(kind, item, form) {
    const key = `${kind}-${item ? item.id : 'new'}`;
    const path = kind === 'policy' ? '/sla-policies' : '/calendars';
    if (this.saving) return; // one request at a time: a second Enter must not create twice
    const submit = form.querySelector('button[type=submit]');
    let saved;
    this.saving = true;
    if (submit) submit.disabled = true;
    try {
      const body = this.bodyOf(kind, form);
      saved = item ? await api.patch(`${path}/${item.id}`, body) : await api.post(path, body);
    } catch (error) {
      // The request's own refusals (4xx) stay by the form; the rest go to the error line.
      if (!(error.status >= 400 && error.status < 500) || error.status === 401) throw error;
      this.showFormError(key, form, error);
      return;
    } finally {
      this.saving = false;
      if (submit) submit.disabled = false;
    }
    this.editing = null;
    this.error = null;
    this.notice = { policy: '', calendar: '' };
    await this.reload();
    announce(this, lt('sla.saved', { name: saved.name }));
    const again = this.body.querySelector(`[data-focus-key="${item ? `sla-edit-${key}` : key}"]`);
    if (again) again.focus();
  }

  /** A 4xx stays by the form, naming the field at fault by its label. */
  showFormError(key, form, error) {
    const field = error.field || '';
    const name = field === 'hours' ? DAYS[0] : field.replace(/^hours\./, '').replace(/\[\d+\]$/, '');
    const el = name && form.elements[name];
    const fieldText = field === 'hours' ? lt('sla.hours')
      : el ? form.querySelector(`label[for="${el.id}"]`)?.textContent : field;
    const detail = String(error.problem?.detail || error.userMessage).replace(field ? `${field}: ` : '', '');
    this.error = { key, name: el ? name : null, text: fieldText ? lt('sla.fieldError', { field: fieldText, detail }) : detail };
    this.render();
    const again = this.body.querySelector('form.sla-form');
    const target = again && ((el && again.elements[name]) || again.querySelector('.form-error'));
    if (target) target.focus();
  }

  async setActive(p) {
    this.notice = { policy: '', calendar: '' };
    try {
      await api.patch(`/sla-policies/${p.id}`, { active: !p.active });
    } catch (error) {
      if (error.status !== 403) throw error;
      this.notice.policy = error.userMessage || error.message;
      this.render();
      return;
    }
    await this.reload();
    announce(this, lt('sla.saved', { name: p.name }));
  }

  /** Deletes after a confirmation; one in use stays, with the reason and what to do instead. */
  async remove(kind, item) {
    // eslint-disable-next-line no-alert
    if (!window.confirm(lt('sla.confirmDelete', { name: item.name }))) return;
    this.notice = { policy: '', calendar: '' };
    try {
      await api.del(`${kind === 'policy' ? '/sla-policies' : '/calendars'}/${item.id}`);
      if (this.editing === `${kind}-${item.id}`) this.editing = null;
      await this.reload();
      announce(this, lt('sla.deleted', { name: item.name }));
    } catch (error) {
      if (error.status === 403) {
        this.notice[kind] = error.userMessage || error.message;
        this.render();
        return;
      }
      if (error.status !== 409) throw error;
      const user = this.policies.find((p) => p.calendar_id === item.id);
      this.notice[kind] = error.code === 'policy_in_use' ? lt('sla.policyInUse', { name: item.name })
        : lt('sla.calendarInUse', { name: item.name, policy: user ? user.name : '?' });
      this.render();
    }
    const focus = this.body.querySelector(`[data-focus-key="sla-delete-${kind}-${item.id}"]`) || this.body.querySelector(`[data-focus-key="${kind}-new"]`);
    if (focus) focus.focus();
  }
}

customElements.define('sb-sla', SbSla);
