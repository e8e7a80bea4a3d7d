import { hueOf, initials } from '../util/format';

interface Props {
  id: string;
  name: string;
  url?: string | null;
  size?: 'xs' | 'sm' | 'md' | 'lg' | 'xl';
  /** Shows a presence dot when defined. */
  online?: boolean;
}

export function Avatar({ id, name, url, size = 'md', online }: Props) {
  return (
    <span className={`avatar avatar-${size}`} style={{ '--avatar-hue': hueOf(id) } as React.CSSProperties} aria-hidden="true">
      {url ? <img src={url} alt="" loading="lazy" /> : <span className="avatar-initials">{initials(name)}</span>}
      {online !== undefined && <span className={`presence-dot ${online ? 'online' : 'offline'}`} />}
    </span>
  );
}

export function PresenceDot({ online, label }: { online: boolean; label?: string }) {
  return <span className={`presence-dot inline ${online ? 'online' : 'offline'}`} role="img" aria-label={label ?? (online ? 'online' : 'offline')} />;
}
