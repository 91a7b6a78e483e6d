// Small page behaviours that used to be inline event handlers (the Content-Security-Policy
// allows no inline script): declared with data attributes, wired here for every page.
//   <form data-confirm="Question?">            asks before submitting
//   <select data-autosubmit>                    submits its form when changed

document.addEventListener('submit', (event) => {
  const form = event.target;
  if (form instanceof HTMLFormElement && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
    event.preventDefault();
  }
});

document.addEventListener('change', (event) => {
  const field = event.target;
  if (field instanceof HTMLSelectElement && field.hasAttribute('data-autosubmit') && field.form) {
    field.form.submit();
  }
});

