import { useChat, useStore } from '../app/context';

export function TypingIndicator({ roomId }: { roomId: string }) {
  const chat = useChat();
  const typing = useStore(chat.people.typing);
  const profiles = useStore(chat.people.profiles);
  const me = useStore(chat.me);
  const ids = [...(typing.get(roomId)?.keys() ?? [])].filter((id) => id !== me?.id);
  const names = ids.map((id) => profiles.get(id)?.display_name ?? 'Someone');
  let text = '';
  if (names.length === 1) text = `${names[0]} is typing…`;
  else if (names.length === 2) text = `${names[0]} and ${names[1]} are typing…`;
  else if (names.length > 2) text = 'Several people are typing…';
  return (
    <div className="typing-indicator" aria-live="polite" data-testid="typing">
      {text && (
        <>
          <span className="typing-dots" aria-hidden="true">
            <span />
            <span />
            <span />
          </span>
          {text}
        </>
      )}
    </div>
  );
}
