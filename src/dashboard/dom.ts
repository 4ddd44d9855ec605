/** Small DOM helpers: elements are built with text content only, never from HTML strings. */

/** Attributes of {@link el}: strings set as attributes; `false`/undefined left out; `true` as an empty attribute. */
export type Attributes = Record<string, string | boolean | undefined>;

/** A new `tag` element with `attributes` and children (strings become text nodes). */
export function el<K extends keyof HTMLElementTagNameMap>(tag: K, attributes: Attributes = {}, ...children: (Node | string)[]): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === false) continue;
    element.setAttribute(name, value === true ? '' : value);
  }
  element.append(...children);
  return element;
}

/** The element with id `id`, which the page must have. @throws Error naming the id when it is missing. */
export function byId<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (found === null) throw new Error(`the page has no element #${id}`);
  return found as T;
}

/** Call `run` at most once per `waitMs`, after the last of a burst of calls. */
export function debounce(run: () => void, waitMs: number): () => void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return () => {
    clearTimeout(timer);
    timer = setTimeout(run, waitMs);
  };
}
