// The sign-in page: trades the admin token for a session cookie.
const form = document.getElementById('login-form');
const error = document.getElementById('login-error');

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  error.hidden = true;
  const token = document.getElementById('token').value;
  try {
    const r = await fetch('/ui/session', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token }),
      credentials: 'same-origin',
    });
    if (r.ok) {
      location.assign('/ui');
      return;
    }
    const body = await r.json().catch(() => null);
    error.textContent = body?.error?.message || `Sign-in failed (${r.status}).`;
  } catch (e) {
    error.textContent = `Rook did not answer: ${e.message}`;
  }
  error.hidden = false;
});
