/**
 * The script of Openserve's `/app` page. It holds no data: it fetches a circuit from the JSON
 * API about 200 ms after a search (the real portal debounces) and renders it with
 * textContent only, so portal data can never become markup. With the page's `portal-drift`
 * meta on, what it renders for circuits (card, dialog, toast, outcomes) carries renamed
 * test hooks, field names and classes, as after a redesign (core/drift.ts does the same
 * server-side); the session-expired box is a login signal and keeps its name.
 */
export const OPENSERVE_APP_SCRIPT = String.raw`
(function () {
  'use strict';
  var SEARCH_DELAY_MS = 200;
  var today = document.querySelector('meta[name="portal-today"]').getAttribute('content');
  var drift = document.querySelector('meta[name="portal-drift"]').getAttribute('content') === 'on';
  var DRIFTED = ['id', 'class', 'name', 'data-testid', 'data-field'];
  var form = document.querySelector('[data-testid="search-form"]');
  var input = document.querySelector('[data-testid="search-input"]');
  var result = document.getElementById('result');
  var toastArea = document.getElementById('toast-area');
  var searchSeq = 0;

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      var value = drift && DRIFTED.indexOf(name) >= 0 ? 'rd-' + attrs[name] : attrs[name];
      node.setAttribute(name, value);
    });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function clearToast() { toastArea.replaceChildren(); }

  function showToast(text) {
    clearToast();
    toastArea.appendChild(el('div', { 'data-testid': 'toast', role: 'status' }, text));
  }

  function sessionExpired() {
    var box = el('div', {}, 'Your session has expired. ');
    box.setAttribute('data-testid', 'session-expired');
    box.appendChild(el('a', { href: '/signin' }, 'Sign in again'));
    result.replaceChildren(box);
  }

  function readJson(response) {
    return response.text().then(function (text) {
      try { return JSON.parse(text); } catch (e) { return {}; }
    });
  }

  function renderCard(circuit) {
    var card = el('div', { 'data-testid': 'circuit-card', 'data-circuit': circuit.circuitNumber });
    card.appendChild(el('h2', {}, 'Circuit'));
    var rows = [['circuit', 'Circuit', circuit.circuitNumber], ['status', 'Status', circuit.status],
      ['customer', 'Customer', circuit.customer], ['address', 'Address', circuit.address], ['speed', 'Speed', circuit.speed]];
    if (circuit.status === 'cancelled' && circuit.reference) rows.push(['reference', 'Reference', circuit.reference]);
    rows.forEach(function (row) {
      var line = el('p', { 'class': 'card-row' });
      line.appendChild(el('span', { 'class': 'label' }, row[1] + ': '));
      line.appendChild(el('span', { 'data-field': row[0] }, row[2]));
      card.appendChild(line);
    });
    if (circuit.status !== 'cancelled') {
      var button = el('button', { type: 'button', 'data-testid': 'cancel-button' }, 'Cancel circuit');
      button.addEventListener('click', function () { openDialog(circuit); });
      card.appendChild(button);
    }
    result.replaceChildren(card);
  }

  function closeDialog() {
    var open = document.querySelector('[data-testid="cancel-dialog"]');
    if (open) open.remove();
  }

  function openDialog(circuit) {
    closeDialog();
    var dialog = el('div', { role: 'dialog', 'aria-modal': 'true', 'aria-labelledby': 'cancel-title', 'data-testid': 'cancel-dialog' });
    dialog.appendChild(el('h3', { id: 'cancel-title' }, 'Cancel ' + circuit.circuitNumber));
    var reasonLabel = el('label', {}, 'Reason ');
    var reason = el('select', { name: 'reason' });
    [['customer_request', 'Customer request'], ['non_payment', 'Non-payment'], ['migration', 'Migration'], ['other', 'Other']]
      .forEach(function (o) { reason.appendChild(el('option', { value: o[0] }, o[1])); });
    reasonLabel.appendChild(reason);
    var dateLabel = el('label', {}, 'Effective date ');
    var date = el('input', { name: 'effectiveDate', type: 'text', placeholder: 'YYYY-MM-DD' });
    date.value = today;
    dateLabel.appendChild(date);
    var error = el('div', { 'data-testid': 'cancel-error', hidden: '' });
    var confirm = el('button', { type: 'button', 'data-testid': 'confirm-cancel' }, 'Confirm cancellation');
    var dismiss = el('button', { type: 'button', 'data-testid': 'close-dialog' }, 'Close');
    dismiss.addEventListener('click', closeDialog);
    confirm.addEventListener('click', function () {
      confirm.disabled = true;
      error.hidden = true;
      fetch('/api/circuits/' + encodeURIComponent(circuit.circuitNumber) + '/cancel', {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify({ reason: reason.value, effectiveDate: date.value })
      }).then(function (response) {
        return readJson(response).then(function (body) {
          if (response.status === 200 || response.status === 409) {
            closeDialog();
            var cancelled = body.circuit && typeof body.circuit === 'object' ? body.circuit
              : Object.assign({}, circuit, { status: 'cancelled', reference: body.reference });
            renderCard(cancelled);
            showToast(response.status === 200 ? 'Cancellation submitted: ' + body.reference : 'Circuit already cancelled: ' + body.reference);
            return;
          }
          if (response.status === 401) { closeDialog(); sessionExpired(); return; }
          error.setAttribute('data-status', String(response.status));
          error.textContent = body.message || body.error || 'Cancellation failed';
          error.hidden = false;
          confirm.disabled = false;
        });
      }).catch(function () {
        error.setAttribute('data-status', '0');
        error.textContent = 'Network error';
        error.hidden = false;
        confirm.disabled = false;
      });
    });
    [reasonLabel, dateLabel, error, confirm, dismiss].forEach(function (n) { dialog.appendChild(n); });
    document.body.appendChild(dialog);
  }

  function search(number) {
    var seq = ++searchSeq;
    closeDialog();
    clearToast();
    result.replaceChildren(el('div', { 'data-testid': 'searching' }, 'Searching...'));
    setTimeout(function () {
      fetch('/api/circuits/' + encodeURIComponent(number), { credentials: 'same-origin', headers: { accept: 'application/json' } })
        .then(function (response) {
          return readJson(response).then(function (body) {
            if (seq !== searchSeq) return;
            if (response.status === 200) renderCard(body);
            else if (response.status === 401) sessionExpired();
            else if (response.status === 404) result.replaceChildren(el('div', { 'data-testid': 'not-found' }, 'No circuit found for ' + number));
            else result.replaceChildren(el('div', { 'data-testid': 'search-error', 'data-status': String(response.status) }, body.message || body.error || 'Search failed'));
          });
        })
        .catch(function () {
          if (seq !== searchSeq) return;
          result.replaceChildren(el('div', { 'data-testid': 'search-error', 'data-status': '0' }, 'Network error'));
        });
    }, SEARCH_DELAY_MS);
  }

  form.addEventListener('submit', function (event) {
    event.preventDefault();
    var number = input.value.trim();
    if (number) search(number);
  });
})();
`;
