// Writing a message: Enter sends, Shift+Enter breaks the line; files by button, drag and drop
// or paste, uploaded at once with a progress bar; reply preview; typing notifications.

import { forwardRef, useEffect, useImperativeHandle, useRef, useState } from 'react';
import { describeError } from '../api/errors';
import type { Message, Upload } from '../api/types';
import { uploadFile, type UploadHandle } from '../api/upload';
import { deviceId } from '../api/device';
import { useChat } from '../app/context';
import { fileSize } from '../util/format';
import { Icon } from './Icon';

const MAX_CHARS = 4000;

interface PendingUpload {
  key: string;
  file: File;
  progress: number;
  preview: string | null;
  upload: Upload | null;
  error: string | null;
  handle: UploadHandle | null;
}

export interface ComposerHandle {
  addFiles(files: FileList | File[]): void;
  focus(): void;
}

interface Props {
  roomId: string;
  placeholder: string;
  replyTo: Message | null;
  replyName?: string;
  onCancelReply: () => void;
  onSent: () => void;
}

let uploadKey = 0;

export const Composer = forwardRef<ComposerHandle, Props>(function Composer({ roomId, placeholder, replyTo, replyName, onCancelReply, onSent }, ref) {
  const chat = useChat();
  const [text, setText] = useState('');
  const [uploads, setUploads] = useState<PendingUpload[]>([]);
  const textRef = useRef<HTMLTextAreaElement>(null);
  const fileRef = useRef<HTMLInputElement>(null);
  const uploadsRef = useRef(uploads);
  uploadsRef.current = uploads;

  // Drafts survive switching rooms.
  useEffect(() => {
    const key = `chatter.draft.${roomId}`;
    setText(sessionStorage.getItem(key) ?? '');
    return () => {
      for (const u of uploadsRef.current) {
        u.handle?.abort();
        if (u.preview) URL.revokeObjectURL(u.preview);
      }
    };
  }, [roomId]);

  useEffect(() => {
    const key = `chatter.draft.${roomId}`;
    if (text) sessionStorage.setItem(key, text);
    else sessionStorage.removeItem(key);
  }, [text, roomId]);

  // Grow with the text, up to a limit.
  useEffect(() => {
    const el = textRef.current;
    if (!el) return;
    el.style.height = 'auto';
    el.style.height = `${Math.min(el.scrollHeight, 200)}px`;
  }, [text]);

  useEffect(() => {
    if (replyTo) textRef.current?.focus();
  }, [replyTo]);

  const update = (key: string, patch: Partial<PendingUpload>) => setUploads((prev) => prev.map((u) => (u.key === key ? { ...u, ...patch } : u)));

  const addFiles = (files: FileList | File[]) => {
    const list = [...files].slice(0, 10);
    for (const file of list) {
      const key = `u${++uploadKey}`;
      const preview = file.type.startsWith('image/') ? URL.createObjectURL(file) : null;
      const entry: PendingUpload = { key, file, progress: 0, preview, upload: null, error: null, handle: null };
      if (file.size > 4 * 1024 * 1024) {
        entry.error = `Too large (${fileSize(file.size)}); the limit is 4 MB.`;
        setUploads((prev) => [...prev, entry]);
        continue;
      }
      const handle = uploadFile(chat.client, file, (progress) => update(key, { progress }), deviceId());
      entry.handle = handle;
      setUploads((prev) => [...prev, entry]);
      handle.promise
        .then((upload) => update(key, { upload, progress: 1, handle: null }))
        .catch((error: unknown) => {
          if (error instanceof DOMException && error.name === 'AbortError') return;
          update(key, { error: describeError(error), handle: null });
        });
    }
  };

  useImperativeHandle(ref, () => ({ addFiles, focus: () => textRef.current?.focus() }));

  const removeUpload = (key: string) => {
    setUploads((prev) => {
      const u = prev.find((x) => x.key === key);
      u?.handle?.abort();
      if (u?.preview) URL.revokeObjectURL(u.preview);
      return prev.filter((x) => x.key !== key);
    });
  };

  const uploading = uploads.some((u) => !u.upload && !u.error);
  const ready = uploads.filter((u) => u.upload).map((u) => u.upload as Upload);
  const trimmed = text.trim();
  const tooLong = trimmed.length > MAX_CHARS;
  const canSend = !uploading && !tooLong && (trimmed.length > 0 || ready.length > 0);

  const send = () => {
    if (!canSend) return;
    // The server needs some text: a message of files alone is captioned with their names.
    const content = trimmed || ready.map((u) => u.filename).join(', ');
    chat.sendMessage(roomId, content, { replyTo: replyTo ?? undefined, attachments: ready });
    setText('');
    for (const u of uploads) if (u.preview) URL.revokeObjectURL(u.preview);
    setUploads([]);
    onSent();
  };

  return (
    <div className="composer">
      {replyTo && (
        <div className="composer-reply">
          <Icon name="reply" size={16} />
          <span>
            Replying to <strong>{replyName ?? replyTo.sender?.display_name ?? 'a message'}</strong>: <span className="muted">{replyTo.content.slice(0, 120)}</span>
          </span>
          <button type="button" className="icon-button small" onClick={onCancelReply} aria-label="Cancel reply">
            <Icon name="close" size={16} />
          </button>
        </div>
      )}
      {uploads.length > 0 && (
        <ul className="composer-uploads" aria-label="Attachments">
          {uploads.map((u) => (
            <li key={u.key} className={`upload-chip ${u.error ? 'failed' : ''}`} data-testid="upload">
              {u.preview ? <img src={u.preview} alt="" /> : <Icon name="file" size={22} />}
              <span className="upload-info">
                <span className="upload-name">{u.file.name}</span>
                {u.error ? (
                  <span className="field-error" role="alert">
                    {u.error}
                  </span>
                ) : u.upload ? (
                  <span className="muted small">{fileSize(u.file.size)} · ready</span>
                ) : (
                  <progress max={1} value={u.progress} aria-label={`Uploading ${u.file.name}`} />
                )}
              </span>
              <button type="button" className="icon-button small" onClick={() => removeUpload(u.key)} aria-label={`Remove ${u.file.name}`}>
                <Icon name="close" size={14} />
              </button>
            </li>
          ))}
        </ul>
      )}
      <div className="composer-row">
        <input
          ref={fileRef}
          type="file"
          multiple
          hidden
          aria-label="Attach files"
          onChange={(e) => {
            if (e.target.files) addFiles(e.target.files);
            e.target.value = '';
          }}
        />
        <button type="button" className="icon-button" onClick={() => fileRef.current?.click()} aria-label="Attach files">
          <Icon name="paperclip" />
        </button>
        <textarea
          ref={textRef}
          rows={1}
          value={text}
          placeholder={placeholder}
          aria-label={placeholder}
          aria-invalid={tooLong || undefined}
          onChange={(e) => {
            setText(e.target.value);
            chat.typing(roomId, e.target.value.trim().length > 0);
          }}
          onBlur={() => chat.typing(roomId, false)}
          onPaste={(e) => {
            const files = [...e.clipboardData.files];
            if (files.length) {
              e.preventDefault();
              addFiles(files);
            }
          }}
          onKeyDown={(e) => {
            if (e.key === 'Enter' && !e.shiftKey && !e.nativeEvent.isComposing) {
              e.preventDefault();
              send();
            } else if (e.key === 'Escape' && replyTo) onCancelReply();
          }}
        />
        <button type="button" className="icon-button send-button" onClick={send} disabled={!canSend} aria-label="Send">
          <Icon name="send" />
        </button>
      </div>
      {tooLong && (
        <p className="field-error composer-note" role="alert">
          {trimmed.length - MAX_CHARS} characters over the {MAX_CHARS}-character limit.
        </p>
      )}
    </div>
  );
});
