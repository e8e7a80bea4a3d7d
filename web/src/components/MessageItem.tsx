// One message: sender, text (links clickable, all text escaped by React), reply quote,
// attachments with image previews, reactions, delivery state, read receipts and actions.

import { memo, useEffect, useRef, useState } from 'react';
import type { Attachment, Message, PublicProfile } from '../api/types';
import type { ChatMessage } from '../state/timeline';
import { fileSize, fullTime, timeOfDay } from '../util/format';
import { Avatar } from './Avatar';
import { Icon } from './Icon';
import { Linkify } from './Linkify';

export const QUICK_REACTIONS = ['👍', '❤️', '😂', '🎉', '😮', '😢'];
const EDIT_WINDOW_MS = 15 * 60 * 1000;

export interface MessageActions {
  reply(message: Message): void;
  edit(message: Message, content: string): Promise<boolean>;
  remove(message: Message): void;
  react(message: Message, emoji: string): void;
  retry(message: ChatMessage): void;
  discard(message: ChatMessage): void;
  jumpTo(messageId: string): void;
}

interface Props {
  message: ChatMessage;
  grouped: boolean;
  mine: boolean;
  canModerate: boolean;
  sender?: PublicProfile;
  online?: boolean;
  readers: { id: string; name: string; avatar_url: string | null }[];
  replySender?: string;
  highlighted: boolean;
  actions: MessageActions;
}

function AttachmentView({ attachment }: { attachment: Attachment }) {
  const [failed, setFailed] = useState(false);
  if (attachment.content_type.startsWith('image/') && !failed) {
    return (
      <a className="attachment-image" href={attachment.url} target="_blank" rel="noopener noreferrer" aria-label={`Open image ${attachment.filename}`}>
        <img src={attachment.url} alt={attachment.filename} loading="lazy" onError={() => setFailed(true)} data-testid="attachment-image" />
      </a>
    );
  }
  if (attachment.content_type.startsWith('video/')) {
    return <video className="attachment-video" src={attachment.url} controls preload="metadata" aria-label={attachment.filename} />;
  }
  if (attachment.content_type.startsWith('audio/')) {
    return <audio className="attachment-audio" src={attachment.url} controls preload="metadata" aria-label={attachment.filename} />;
  }
  return (
    <a className="attachment-file" href={attachment.url} target="_blank" rel="noopener noreferrer" download={attachment.filename}>
      <Icon name="file" size={22} />
      <span>
        <strong>{attachment.filename}</strong>
        <span className="muted">{fileSize(attachment.size)}</span>
      </span>
    </a>
  );
}

function EditBox({ initial, onSave, onCancel }: { initial: string; onSave: (text: string) => void; onCancel: () => void }) {
  const [text, setText] = useState(initial);
  const ref = useRef<HTMLTextAreaElement>(null);
  useEffect(() => {
    const el = ref.current;
    if (el) {
      el.focus();
      el.setSelectionRange(el.value.length, el.value.length);
    }
  }, []);
  return (
    <form
      className="edit-box"
      onSubmit={(e) => {
        e.preventDefault();
        if (text.trim()) onSave(text);
      }}
    >
      <textarea
        ref={ref}
        value={text}
        aria-label="Edit message"
        rows={Math.min(8, text.split('\n').length + 1)}
        onChange={(e) => setText(e.target.value)}
        onKeyDown={(e) => {
          if (e.key === 'Escape') {
            e.preventDefault();
            onCancel();
          } else if (e.key === 'Enter' && !e.shiftKey && !e.nativeEvent.isComposing) {
            e.preventDefault();
            if (text.trim()) onSave(text);
          }
        }}
      />
      <div className="edit-actions">
        <span className="muted small">Enter to save · Esc to cancel</span>
        <button type="button" className="button small" onClick={onCancel}>
          Cancel
        </button>
        <button type="submit" className="button primary small" disabled={!text.trim()}>
          Save
        </button>
      </div>
    </form>
  );
}

function MessageItemInner({ message, grouped, mine, canModerate, sender, online, readers, replySender, highlighted, actions }: Props) {
  const [editing, setEditing] = useState(false);
  const [picking, setPicking] = useState(false);
  const local = message.local;
  const name = message.sender?.display_name ?? 'Deleted user';
  const editable = mine && !message.deleted && !local && Date.now() - new Date(message.created_at).getTime() < EDIT_WINDOW_MS;
  const deletable = !message.deleted && !local && (mine || canModerate);

  return (
    <li
      className={`message ${grouped ? 'grouped' : ''} ${mine ? 'mine' : ''} ${local ? `pending ${local.status}` : ''} ${highlighted ? 'highlighted' : ''}`}
      data-testid="message"
      data-message-id={message.id}
      data-status={local?.status ?? 'sent'}
      aria-label={`${name}, ${timeOfDay(message.created_at)}`}
      // Focusable by tap (not by Tab), so touch screens can show the actions too.
      tabIndex={-1}
    >
      <div className="message-gutter">
        {grouped ? (
          <time className="message-hover-time" dateTime={message.created_at} title={fullTime(message.created_at)}>
            {timeOfDay(message.created_at)}
          </time>
        ) : (
          <Avatar id={message.sender?.id ?? message.id} name={name} url={sender?.avatar_url} size="md" online={online} />
        )}
      </div>
      <div className="message-main">
        {!grouped && (
          <div className="message-header">
            <span className="message-sender">{name}</span>
            <time dateTime={message.created_at} title={fullTime(message.created_at)} className="message-time">
              {timeOfDay(message.created_at)}
            </time>
          </div>
        )}
        {message.reply_to && (
          <button type="button" className="reply-quote" onClick={() => actions.jumpTo(message.reply_to!.id)} aria-label={`Replying to ${replySender ?? 'a message'}: ${message.reply_to.excerpt}`}>
            <Icon name="reply" size={14} />
            <strong>{replySender ?? 'Someone'}</strong>
            <span>{message.reply_to.excerpt || 'Deleted message'}</span>
          </button>
        )}
        {editing ? (
          <EditBox
            initial={message.content}
            onCancel={() => setEditing(false)}
            onSave={async (text) => {
              if (text === message.content || (await actions.edit(message, text))) setEditing(false);
            }}
          />
        ) : message.deleted ? (
          <p className="message-text deleted">This message was deleted.</p>
        ) : (
          <p className="message-text" data-testid="message-text">
            <Linkify text={message.content} />
            {message.edited_at && (
              <span className="edited" title={`Edited ${fullTime(message.edited_at)}`}>
                {' '}
                (edited)
              </span>
            )}
          </p>
        )}
        {message.attachments.length > 0 && (
          <div className="attachments">
            {message.attachments.map((a) => (
              <AttachmentView key={a.id} attachment={a} />
            ))}
          </div>
        )}
        {message.reactions.length > 0 && (
          <div className="reactions" role="group" aria-label="Reactions">
            {message.reactions.map((r) => (
              <button
                key={r.emoji}
                type="button"
                className={`reaction ${r.me ? 'mine' : ''}`}
                aria-pressed={r.me}
                aria-label={`${r.emoji} ${r.count}${r.me ? ', including you' : ''}`}
                onClick={() => actions.react(message, r.emoji)}
                disabled={!!local}
              >
                <span aria-hidden="true">{r.emoji}</span> <span aria-hidden="true">{r.count}</span>
              </button>
            ))}
          </div>
        )}
        {local && (
          <div className={`delivery ${local.status}`} role={local.status === 'failed' ? 'alert' : undefined}>
            {local.status === 'sending' && 'Sending…'}
            {local.status === 'queued' && (local.error ?? 'Waiting for the connection…')}
            {local.status === 'failed' && (
              <>
                <span>Not sent: {local.error}</span>
                <button type="button" className="link-button" onClick={() => actions.retry(message)}>
                  Retry
                </button>
                <button type="button" className="link-button" onClick={() => actions.discard(message)}>
                  Discard
                </button>
              </>
            )}
          </div>
        )}
        {readers.length > 0 && (
          <div className="receipts" data-testid="receipt" aria-label={`Seen by ${readers.map((r) => r.name).join(', ')}`}>
            {readers.slice(0, 5).map((r) => (
              <Avatar key={r.id} id={r.id} name={r.name} url={r.avatar_url} size="xs" />
            ))}
            <span>Seen by {readers.length > 3 ? `${readers.slice(0, 3).map((r) => r.name).join(', ')} and ${readers.length - 3} more` : readers.map((r) => r.name).join(', ')}</span>
          </div>
        )}
      </div>
      {!local && !message.deleted && !editing && (
        <div className="message-actions" role="toolbar" aria-label="Message actions">
          <div className="react-picker-wrap">
            <button type="button" className="icon-button small" aria-label="Add reaction" aria-expanded={picking} onClick={() => setPicking((p) => !p)}>
              <Icon name="smile" size={18} />
            </button>
            {picking && (
              <div className="react-picker" role="menu" aria-label="Pick a reaction" onKeyDown={(e) => e.key === 'Escape' && setPicking(false)}>
                {QUICK_REACTIONS.map((emoji) => (
                  <button
                    key={emoji}
                    type="button"
                    role="menuitem"
                    className="icon-button small"
                    aria-label={`React with ${emoji}`}
                    onClick={() => {
                      setPicking(false);
                      actions.react(message, emoji);
                    }}
                  >
                    {emoji}
                  </button>
                ))}
              </div>
            )}
          </div>
          <button type="button" className="icon-button small" aria-label="Reply" onClick={() => actions.reply(message)}>
            <Icon name="reply" size={18} />
          </button>
          {editable && (
            <button type="button" className="icon-button small" aria-label="Edit message" onClick={() => setEditing(true)}>
              <Icon name="edit" size={18} />
            </button>
          )}
          {deletable && (
            <button type="button" className="icon-button small danger" aria-label="Delete message" onClick={() => actions.remove(message)}>
              <Icon name="trash" size={18} />
            </button>
          )}
        </div>
      )}
    </li>
  );
}

export const MessageItem = memo(MessageItemInner);
