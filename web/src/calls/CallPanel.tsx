// The call of a room: a grid of participants, and mute / camera / screen / leave controls.

import { useMemo } from 'react';
import { useChat, useStore } from '../app/context';
import { Icon } from '../components/Icon';
import { VideoTile } from './VideoTile';

export function CallPanel({ roomId }: { roomId: string }) {
  const chat = useChat();
  const call = useStore(chat.calls.view);
  const me = useStore(chat.me);
  const active = call?.roomId === roomId ? call : null;
  const preview = useMemo(() => {
    const track = chat.calls.previewTrack;
    return track ? new MediaStream([track]) : null;
  }, [active?.localStream, active?.screen, chat.calls]);
  if (!active || !me) return null;

  const count = active.peers.length + 1;
  return (
    <section className="call-panel" aria-label="Call">
      <div className={`call-grid count-${Math.min(count, 6)}`}>
        <VideoTile id={me.id} name={me.display_name} stream={preview} showVideo={active.video || active.screen} audio={active.audio} screen={active.screen} mirrored you />
        {active.peers.map((p) => (
          <VideoTile key={p.connectionId} id={p.user.id} name={p.user.display_name} stream={p.stream} showVideo={p.video || p.screen} audio={p.audio} screen={p.screen} state={p.state} />
        ))}
      </div>
      {active.peers.length === 0 && active.status === 'joined' && <p className="call-note">Waiting for others to join…</p>}
      {active.status === 'joining' && !active.error && <p className="call-note">Joining the call…</p>}
      {active.status === 'reconnecting' && <p className="call-note">Connection to the server lost; the call continues and will resync.</p>}
      {active.error && (
        <p className="call-note error" role="alert">
          {active.error}
        </p>
      )}
      <div className="call-controls" role="toolbar" aria-label="Call controls">
        <button
          type="button"
          className={`call-button ${active.audio ? '' : 'off'}`}
          onClick={() => chat.calls.toggleAudio()}
          disabled={!active.hasAudio}
          aria-pressed={!active.audio}
          aria-label={active.audio ? 'Mute microphone' : 'Unmute microphone'}
          title={active.audio ? 'Mute microphone' : 'Unmute microphone'}
        >
          <Icon name={active.audio ? 'mic' : 'mic-off'} />
        </button>
        <button
          type="button"
          className={`call-button ${active.video ? '' : 'off'}`}
          onClick={() => chat.calls.toggleVideo()}
          disabled={!active.hasVideo}
          aria-pressed={!active.video}
          aria-label={active.video ? 'Turn camera off' : 'Turn camera on'}
          title={active.video ? 'Turn camera off' : 'Turn camera on'}
        >
          <Icon name={active.video ? 'video' : 'video-off'} />
        </button>
        {typeof navigator !== 'undefined' && 'getDisplayMedia' in (navigator.mediaDevices ?? {}) && (
          <button
            type="button"
            className={`call-button ${active.screen ? 'on' : ''}`}
            onClick={() => void chat.calls.toggleScreen()}
            aria-pressed={active.screen}
            aria-label={active.screen ? 'Stop sharing screen' : 'Share screen'}
            title={active.screen ? 'Stop sharing screen' : 'Share screen'}
          >
            <Icon name="screen" />
          </button>
        )}
        <button type="button" className="call-button leave" onClick={() => chat.calls.leave()} aria-label="Leave call" title="Leave call">
          <Icon name="phone-off" />
        </button>
      </div>
    </section>
  );
}
