import { useEffect, useRef } from 'react';
import { Avatar } from '../components/Avatar';
import { Icon } from '../components/Icon';

interface Props {
  id: string;
  name: string;
  stream: MediaStream | null;
  showVideo: boolean;
  audio: boolean;
  screen?: boolean;
  mirrored?: boolean;
  state?: string;
  you?: boolean;
}

const STATE_TEXT: Record<string, string> = {
  waiting: 'Waiting to connect',
  new: 'Connecting',
  connecting: 'Connecting',
  connected: 'Connected',
  disconnected: 'Reconnecting',
  failed: 'Connection failed',
  closed: 'Closed',
};

/** A participant's video; audio plays elsewhere (CallAudio), so every video here is muted. */
export function VideoTile({ id, name, stream, showVideo, audio, screen, mirrored, state, you }: Props) {
  const ref = useRef<HTMLVideoElement>(null);
  useEffect(() => {
    const video = ref.current;
    if (video && video.srcObject !== stream) video.srcObject = stream;
  }, [stream]);
  const hasVideo = showVideo && (stream?.getVideoTracks().length ?? 0) > 0;
  return (
    <figure className={`call-tile ${hasVideo ? '' : 'no-video'} ${screen ? 'screen' : ''}`} data-testid="call-tile" data-state={state ?? 'local'} data-name={name}>
      <video ref={ref} autoPlay playsInline muted className={mirrored && !screen ? 'mirrored' : ''} hidden={!hasVideo} />
      {!hasVideo && (
        <div className="call-tile-placeholder">
          <Avatar id={id} name={name} size="xl" />
        </div>
      )}
      <figcaption>
        {!audio && <Icon name="mic-off" size={14} className="muted-icon" />}
        <span className="call-tile-name">
          {name}
          {you ? ' (you)' : ''}
          {screen ? ' · screen' : ''}
        </span>
        {state && (
          <span className={`peer-state ${state}`} data-testid="peer-state">
            {STATE_TEXT[state] ?? state}
          </span>
        )}
        <span className="visually-hidden">{audio ? 'microphone on' : 'microphone muted'}</span>
      </figcaption>
    </figure>
  );
}
