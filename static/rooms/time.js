// Times in the viewer's zone and language. The server renders them in UTC, in <time>
// elements whose datetime attribute the functions here read.

const DATE_AND_TIME = { dateStyle: "medium", timeStyle: "short" };

// A message's time: "14:05" today, "26 Nov 2026, 14:05" another day, and in full as its
// title.
export function showMessageTime(element) {
  const date = new Date(element.getAttribute("datetime"));
  if (Number.isNaN(date.getTime())) return;
  const sameDay = date.toDateString() === new Date().toDateString();
  element.textContent = sameDay
    ? date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
    : date.toLocaleString([], DATE_AND_TIME);
  element.title = date.toLocaleString([], { dateStyle: "full", timeStyle: "medium" });
}

// "26 Nov 2026, 14:05"; what is not a date is returned as it is.
export function localDateTime(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return date.toLocaleString([], DATE_AND_TIME);
}

export function isDate(iso) {
  return Boolean(iso) && !Number.isNaN(new Date(iso).getTime());
}

// Every <time datetime> in the container, as a date and time in the viewer's zone.
export function showLocalTimes(container) {
  for (const time of container.querySelectorAll("time[datetime]")) {
    time.textContent = localDateTime(time.getAttribute("datetime"));
  }
}
