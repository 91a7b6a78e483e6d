// Translation helpers of the live pages. Django's JavaScript catalog (the jsi18n script the
// page loads before these modules) defines window.gettext; without it the Vietnamese source
// text shows. Texts with values use named placeholders: fmt(_('Đã gửi %(n)s'), { n }).
export const _ = (text) => (window.gettext ? window.gettext(text) : text);

export const fmt = (text, values) => text.replace(/%\((\w+)\)s/g, (m, key) => (key in values ? String(values[key]) : m));
