// Message text with http(s) links made clickable. Text is rendered as React text nodes, so
// everything a user wrote is escaped; only the URL scheme allow-list becomes an <a>.

const URL_PATTERN = /\bhttps?:\/\/[^\s<>"]+[^\s<>"'.,:;!?)\]}]/gi;

export function Linkify({ text }: { text: string }) {
  const parts: React.ReactNode[] = [];
  let last = 0;
  for (const match of text.matchAll(URL_PATTERN)) {
    const start = match.index ?? 0;
    if (start > last) parts.push(text.slice(last, start));
    const href = match[0];
    parts.push(
      <a key={start} href={href} target="_blank" rel="noopener noreferrer nofollow">
        {href}
      </a>,
    );
    last = start + href.length;
  }
  if (last < text.length) parts.push(text.slice(last));
  return <>{parts}</>;
}
