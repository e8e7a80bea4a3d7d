import { onLinkClick } from '../app/router';
import { Icon } from '../components/Icon';

export function HomePage({ notFound }: { notFound?: boolean }) {
  return (
    <div className="empty-state home">
      <span className="brand-mark large" aria-hidden="true">
        <Icon name="message" size={34} />
      </span>
      <h1>{notFound ? 'Page not found' : 'Welcome to Chatter'}</h1>
      <p className="muted">{notFound ? 'That address does not lead anywhere.' : 'Pick a room or a conversation on the left, or find a public room to join.'}</p>
      <a className="button primary" href="/directory" onClick={onLinkClick('/directory')}>
        <Icon name="compass" /> Browse public rooms
      </a>
    </div>
  );
}
