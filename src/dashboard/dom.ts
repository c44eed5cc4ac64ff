/** A few lines of DOM building, so the views read as structure rather than as API calls. */

type Child = Node | string | null | undefined | false;

export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Record<string, string> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "class") element.className = value;
    else element.setAttribute(name, value);
  }
  for (const child of children) if (child) element.append(child);
  return element;
}

/** Restart a CSS animation class (e.g. the flash of a changed price) even if it is still running. */
export function replay(element: HTMLElement, className: string, others: string[] = []): void {
  element.classList.remove(className, ...others);
  // Reading layout forces the removal to take effect before the class comes back.
  void element.offsetWidth;
  element.classList.add(className);
}
