/** Plain-text columns: every cell padded to its column's widest, two spaces between columns. */
export function renderTable(rows: string[][], options: { indent?: number } = {}): string {
  const widths: number[] = [];
  for (const row of rows)
    for (const [column, cell] of row.entries()) widths[column] = Math.max(widths[column] ?? 0, cell.length);
  const indent = " ".repeat(options.indent ?? 0);
  const line = (row: string[]) =>
    row
      .map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column] ?? 0)))
      .join("  ");
  return rows.map((row) => `${indent}${line(row)}\n`).join("");
}
