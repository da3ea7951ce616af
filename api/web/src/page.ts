// What the shell hands every page, and the page conventions (title, heading).

/** Where to draw, the query of the route, and a signal that fires when the user leaves the page. */
export interface Page {
  main: HTMLElement;
  signal: AbortSignal;
  params: URLSearchParams;
}

export function setTitle(title: string): void {
  document.title = `${title} · kiln`;
}
