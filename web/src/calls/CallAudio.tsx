// Remote voices play here, outside the room view, so a call goes on while you browse.

import { useEffect, useRef } from 'react';
import { useChat, useStore } from '../app/context';

function PeerAudio({ stream }: { stream: MediaStream | null }) {
  const ref = useRef<HTMLAudioElement>(null);
  useEffect(() => {
    const audio = ref.current;
    if (!audio) return;
    const tracks = stream?.getAudioTracks() ?? [];
    const next = tracks.length ? new MediaStream(tracks) : null;
    audio.srcObject = next;
    if (next) void audio.play().catch(() => undefined);
  }, [stream]);
  return <audio ref={ref} autoPlay />;
}

export function CallAudio() {
  const chat = useChat();
  const call = useStore(chat.calls.view);
  if (!call) return null;
  return (
    <div hidden>
      {call.peers.map((p) => (
        <PeerAudio key={p.connectionId} stream={p.stream} />
      ))}
    </div>
  );
}
