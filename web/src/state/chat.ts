// The client's brain: wires the HTTP client, the socket and the stores, turns server frames
// into state, and offers the actions the screens call. Plain TypeScript, no React.

import { createApi, type Api } from '../api/endpoints';
import { ApiError, NetworkError, describeError } from '../api/errors';
import type { ApiClient } from '../api/http';
import type { Me, Message, Room, SecurityNotice, Sender, ServerFrame, Upload } from '../api/types';
import { CallManager } from '../calls/mesh';
import { RealtimeClient, RealtimeError, sameOriginSocketUrl, type ConnectionStatus, type SocketLike } from '../realtime/socket';
import { MessagesStore } from './messages';
import { Notices } from './notices';
import { PeopleStore } from './people';
import { RoomsStore } from './rooms';
import { securityNoticeToast, withNotice } from './security';
import { Store } from './store';
import { makePending, type ChatMessage } from './timeline';

export interface ConnectionInfo {
  status: ConnectionStatus;
  attempt: number;
  retryInMs?: number;
  lastError?: string;
  /** Time (ms) the current retry is due. */
  retryAt?: number;
}

export interface ChatOptions {
  client: ApiClient;
  socketUrl?: () => string;
  createSocket?: (url: string) => SocketLike;
  random?: () => number;
  /** Whether the page is visible (messages on screen count as read). */
  isVisible?: () => boolean;
}

function newClientMsgId(): string {
  if (typeof crypto !== 'undefined' && 'randomUUID' in crypto) return crypto.randomUUID();
  return `c${Date.now().toString(36)}${Math.random().toString(36).slice(2, 10)}`;
}

/** Errors after which a send is retried later rather than reported as failed. */
export function isTransient(error: unknown): boolean {
  if (error instanceof NetworkError) return true;
  if (error instanceof RealtimeError) return error.code === 'disconnected' || error.code === 'timeout' || error.code === 'unavailable';
  if (error instanceof ApiError) return error.status >= 500 || error.status === 0;
  return false;
}

export class ChatController {
  readonly client: ApiClient;
  readonly api: Api;
  readonly realtime: RealtimeClient;
  readonly rooms = new RoomsStore();
  readonly messages = new MessagesStore();
  readonly people = new PeopleStore();
  readonly notices = new Notices();
  readonly calls: CallManager;
  readonly me = new Store<Me | null>(null);
  readonly connection = new Store<ConnectionInfo>({ status: 'idle', attempt: 0 });
  /** Room id → my read cursor when I opened it (for the "new messages" line). */
  readonly unreadMarkers = new Store<ReadonlyMap<string, string | null>>(new Map());
  /** Room id → connection ids seen in its call (from call_joined / call_left). */
  readonly callPresence = new Store<ReadonlyMap<string, ReadonlySet<string>>>(new Map());
  /** My account's security notices (SPEC §5), kept up to date while the sessions view is open. */
  readonly securityNotices = new Store<SecurityNotice[]>([]);
  private securityWatchers = 0;
  private securityLoads = 0;
  /** Room id → "at bottom" as reported by the room view on screen. */
  private activeRoom: { id: string; atBottom: boolean } | null = null;
  private myRead = new Map<string, string>();
  private preparing = new Map<string, number>();
  private typingSent = new Map<string, number>();
  private membersFetchedAt = new Map<string, number>();
  private outbox: Promise<void> = Promise.resolve();
  private typingTimer: ReturnType<typeof setInterval> | null = null;
  private readonly isVisible: () => boolean;
  private detachBrowser: (() => void) | null = null;
  private started = false;

  constructor(options: ChatOptions) {
    this.client = options.client;
    this.api = createApi(options.client);
    this.isVisible = options.isVisible ?? (() => typeof document === 'undefined' || document.visibilityState === 'visible');
    this.realtime = new RealtimeClient({
      url: options.socketUrl ?? (() => sameOriginSocketUrl()),
      getToken: () => this.client.accessToken(),
      forceRefresh: () => this.client.refresh(),
      createSocket: options.createSocket,
      random: options.random,
      resumePoints: () => this.messages.resumePoints(),
      onFrame: (frame) => this.handleFrame(frame),
      onStatus: (status, detail) => {
        this.connection.set({
          status,
          attempt: detail?.attempt ?? 0,
          retryInMs: detail?.retryInMs,
          lastError: detail?.lastError,
          retryAt: detail?.retryInMs !== undefined ? Date.now() + detail.retryInMs : undefined,
        });
        if (status === 'reconnecting' || status === 'offline') this.calls.onDisconnected();
      },
      onSessionRevoked: (reason) => this.sessionEnded('revoked', reason),
      onUnauthenticated: () => this.sessionEnded('expired'),
    });
    this.calls = new CallManager({
      me: () => this.sender(),
      connectionId: () => this.realtime.connectionId,
      send: (frame) => this.realtime.send(frame),
      request: (frame) => this.realtime.request(frame),
      iceServers: () => this.api.iceServers(),
    });
    this.client.onSessionEnded(() => this.reset());
  }

  // ---- life cycle -------------------------------------------------------------------

  /** After sign-in: connect, load the room list. */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.me.set(this.client.session.user);
    this.realtime.start();
    this.typingTimer = setInterval(() => this.people.pruneTyping(), 1_000);
    if (typeof window !== 'undefined') this.attachBrowser();
    // The welcome frame carries the rooms too; REST gets the sidebar up even before it.
    void this.api
      .joinedRooms()
      .then((rooms) => {
        if (this.rooms.list().length === 0) this.setRooms(rooms);
      })
      .catch((error) => this.notices.error(`Could not load your rooms. ${describeError(error)}`));
  }

  private attachBrowser(): void {
    const online = () => {
      this.realtime.reconnectNow();
    };
    const offline = () => this.realtime.wentOffline();
    const visibility = () => {
      if (document.visibilityState !== 'visible') return;
      // Back from sleep: the token may have expired, the socket may be dead.
      void this.client.accessToken().catch(() => undefined);
      this.realtime.reconnectNow();
      const active = this.activeRoom;
      if (active?.atBottom) this.markRead(active.id);
    };
    window.addEventListener('online', online);
    window.addEventListener('offline', offline);
    document.addEventListener('visibilitychange', visibility);
    this.detachBrowser = () => {
      window.removeEventListener('online', online);
      window.removeEventListener('offline', offline);
      document.removeEventListener('visibilitychange', visibility);
    };
  }

  private reset(): void {
    this.calls.leave();
    this.realtime.stop();
    if (this.typingTimer) clearInterval(this.typingTimer);
    this.typingTimer = null;
    this.detachBrowser?.();
    this.detachBrowser = null;
    this.rooms.clear();
    this.messages.clear();
    this.people.clear();
    this.unreadMarkers.set(new Map());
    this.callPresence.set(new Map());
    this.securityNotices.set([]);
    this.myRead.clear();
    this.membersFetchedAt.clear();
    this.me.set(null);
    this.activeRoom = null;
    this.started = false;
  }

  private sessionEnded(reason: 'revoked' | 'expired', detail?: string): void {
    this.client.clear(reason, detail);
    this.reset();
  }

  async logout(): Promise<void> {
    this.calls.leave();
    this.realtime.stop();
    try {
      await this.client.logout();
    } catch (error) {
      // Signed out locally anyway; the server session ends when its tokens expire.
      if (!(error instanceof ApiError && error.status === 401)) this.notices.error(`Signing out on the server failed: ${describeError(error)}`);
    }
    this.reset();
  }

  sender(): Sender | null {
    const me = this.me.get();
    return me ? { id: me.id, username: me.username, display_name: me.display_name } : null;
  }

  private setRooms(rooms: Room[]): void {
    this.rooms.setAll(rooms);
    this.people.rememberProfiles(rooms.flatMap((r) => (r.other_user ? [r.other_user] : [])));
  }

  // ---- server frames ----------------------------------------------------------------

  handleFrame(frame: ServerFrame): void {
    const me = this.me.get();
    switch (frame.type) {
      case 'welcome': {
        this.me.set(frame.user);
        this.client.setUser(frame.user);
        this.setRooms(frame.rooms);
        if (this.realtime.connections > 1) this.afterReconnect();
        this.flushOutbox();
        this.calls.onReconnected();
        break;
      }
      case 'message_new': {
        const message = frame.message;
        this.messages.receive(message.room_id, [message]);
        const mine = message.sender?.id === me?.id;
        if (!this.rooms.get(message.room_id) && !mine) this.refreshRoomsSoon();
        this.rooms.onMessage(message, { mine, onScreen: this.isOnScreen(message.room_id) });
        if (message.sender) {
          this.people.read(message.room_id, message.sender.id, message.id);
          this.people.setTyping(message.room_id, message.sender.id, false);
        }
        if (mine) this.myRead.set(message.room_id, message.id);
        else if (this.isOnScreen(message.room_id)) this.markRead(message.room_id);
        break;
      }
      case 'message_edited':
        this.messages.edited(frame.message);
        this.rooms.onMessageChanged(frame.message.room_id, frame.message.id, frame.message);
        break;
      case 'message_deleted':
        this.messages.deleted(frame.room_id, frame.message_id);
        this.rooms.onMessageChanged(frame.room_id, frame.message_id, null);
        break;
      case 'reaction':
        this.messages.reaction(frame.room_id, frame.message_id, frame.emoji, frame.added, frame.user_id === me?.id);
        break;
      case 'typing':
        if (frame.user_id !== me?.id) this.people.setTyping(frame.room_id, frame.user_id, frame.active);
        break;
      case 'read':
        this.people.read(frame.room_id, frame.user_id, frame.message_id);
        if (frame.user_id === me?.id) {
          // Read on another device of mine.
          const known = this.myRead.get(frame.room_id);
          if (!known || known < frame.message_id) this.myRead.set(frame.room_id, frame.message_id);
          const room = this.rooms.get(frame.room_id);
          if (room?.last_message && room.last_message.id <= frame.message_id) this.rooms.markRead(frame.room_id);
        }
        break;
      case 'presence':
        this.people.setPresence(frame.user_id, frame.status === 'online', frame.last_seen_at);
        break;
      case 'user_updated': {
        const user = frame.user;
        this.people.profileUpdated(user);
        this.rooms.userUpdated(user);
        this.messages.senderUpdated({ id: user.id, username: user.username, display_name: user.display_name });
        if (me && user.id === me.id) {
          // Changed on another device of mine (this one already has it from the PATCH answer).
          const updated: Me = { ...me, username: user.username, display_name: user.display_name, status_text: user.status_text, avatar_url: user.avatar_url };
          this.me.set(updated);
          this.client.setUser(updated);
        }
        break;
      }
      case 'member_joined':
        if (frame.user.id === me?.id) {
          void this.api
            .room(frame.room_id)
            .then((room) => this.rooms.upsert(room))
            .catch(() => this.refreshRoomsSoon());
        } else {
          this.people.memberJoined(frame.room_id, frame.user);
          this.rooms.patch(frame.room_id, (r) => ({ ...r, member_count: r.member_count + 1 }));
        }
        break;
      case 'member_left':
        if (frame.user_id === me?.id) {
          const room = this.rooms.get(frame.room_id);
          this.rooms.remove(frame.room_id);
          this.messages.forget(frame.room_id);
          if (this.activeRoom?.id === frame.room_id && room) this.notices.info(`You are no longer a member of ${room.name}.`);
        } else {
          this.people.memberLeft(frame.room_id, frame.user_id);
          this.rooms.patch(frame.room_id, (r) => ({ ...r, member_count: Math.max(0, r.member_count - 1) }));
        }
        break;
      case 'member_role_changed':
        this.people.roleChanged(frame.room_id, frame.user_id, frame.role);
        if (frame.user_id === me?.id) this.rooms.setRole(frame.room_id, frame.role);
        break;
      case 'room_updated':
        this.rooms.patch(frame.room.id, (r) => ({
          ...r,
          name: r.kind === 'direct' ? r.name : frame.room.name,
          topic: frame.room.topic,
          alias: frame.room.alias,
          member_count: frame.room.member_count,
        }));
        break;
      case 'room_deleted': {
        const room = this.rooms.get(frame.room_id);
        this.rooms.remove(frame.room_id);
        this.messages.forget(frame.room_id);
        if (room && this.activeRoom?.id === frame.room_id) this.notices.info(`${room.name} was deleted.`);
        break;
      }
      case 'dm_created':
        this.rooms.upsert(frame.room);
        if (frame.room.other_user) this.people.rememberProfiles([frame.room.other_user]);
        break;
      case 'banned': {
        const room = this.rooms.get(frame.room_id);
        this.rooms.remove(frame.room_id);
        this.messages.forget(frame.room_id);
        const until = frame.until ? ` until ${new Date(frame.until).toLocaleString()}` : '';
        this.notices.error(`You were banned from ${room?.name ?? 'a room'}${until}.${frame.reason ? ` Reason: ${frame.reason}` : ''}`);
        break;
      }
      case 'security_notice': {
        const notice: SecurityNotice = { kind: frame.kind, failed_logins: frame.failed_logins, throttled_until: frame.throttled_until };
        this.securityNotices.set((list) => withNotice(list, notice));
        // It stays until dismissed: the owner may be looking elsewhere when it comes.
        this.notices.push('warning', securityNoticeToast(notice), 0);
        if (this.securityWatchers > 0) void this.loadSecurityNotices();
        break;
      }
      case 'subscribed':
        if (frame.has_more) void this.reloadLatest(frame.room_id);
        break;
      case 'call_participants':
        this.setCallPresence(frame.room_id, (set) => {
          set.clear();
          for (const p of frame.participants) set.add(p.connection_id);
          if (this.realtime.connectionId) set.add(this.realtime.connectionId);
        });
        break;
      case 'call_joined':
        this.setCallPresence(frame.room_id, (set) => set.add(frame.participant.connection_id));
        this.calls.handleFrame(frame);
        break;
      case 'call_left':
        this.setCallPresence(frame.room_id, (set) => set.delete(frame.connection_id));
        this.calls.handleFrame(frame);
        break;
      case 'call_media':
      case 'webrtc':
        this.calls.handleFrame(frame);
        break;
      case 'error':
        // Errors answering a request are reported by whoever made it.
        if (frame.ref === undefined) this.notices.error(`${frame.message}`);
        break;
      default:
        break;
    }
  }

  /** The sessions view shows the security notices: loaded now, and again after each `security_notice`. */
  watchSecurityNotices(): () => void {
    this.securityWatchers += 1;
    void this.loadSecurityNotices();
    return () => {
      this.securityWatchers -= 1;
    };
  }

  private async loadSecurityNotices(): Promise<void> {
    const load = ++this.securityLoads;
    try {
      const notices = await this.api.securityNotices();
      // Only the latest answer counts: an older one may predate the event that asked for this one.
      if (load === this.securityLoads) this.securityNotices.set(notices);
    } catch {
      // The notices known so far stay; the sessions view reports a server it cannot reach.
    }
  }

  private setCallPresence(roomId: string, fn: (set: Set<string>) => void): void {
    const map = new Map(this.callPresence.get());
    const set = new Set(map.get(roomId) ?? []);
    fn(set);
    if (set.size) map.set(roomId, set);
    else map.delete(roomId);
    this.callPresence.set(map);
  }

  private refreshTimer: ReturnType<typeof setTimeout> | null = null;
  private refreshRoomsSoon(): void {
    if (this.refreshTimer) return;
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = null;
      void this.api
        .joinedRooms()
        .then((rooms) => this.setRooms(rooms))
        .catch(() => undefined);
    }, 300);
  }

  /** After a reconnect: rooms loaded empty get their history again (no `since` to replay from). */
  private afterReconnect(): void {
    for (const [roomId, timeline] of this.messages.store.get()) {
      if (timeline.loaded && !timeline.messages.some((m) => !m.local)) void this.reloadLatest(roomId);
    }
    const active = this.activeRoom?.id;
    if (active) void this.loadMembers(active, true);
  }

  /** The gap was too long to replay: start again from the latest page (no holes). */
  private async reloadLatest(roomId: string): Promise<void> {
    try {
      const page = await this.api.history(roomId);
      const timeline = this.messages.get(roomId);
      const pending = timeline?.messages.filter((m) => m.local) ?? [];
      this.messages.forget(roomId);
      for (const m of pending) this.messages.addPending(m);
      this.messages.setLatest(roomId, page.items, page.has_more);
    } catch (error) {
      this.messages.setError(roomId, `Could not load new messages. ${describeError(error)}`);
    }
  }

  // ---- rooms on screen --------------------------------------------------------------

  private isOnScreen(roomId: string): boolean {
    return this.activeRoom?.id === roomId && this.activeRoom.atBottom && this.isVisible();
  }

  /** The room view reports which room is shown and whether its newest message is in view. */
  setViewport(roomId: string | null, atBottom = true): void {
    this.activeRoom = roomId ? { id: roomId, atBottom } : null;
    if (roomId && atBottom && this.isVisible()) this.markRead(roomId);
  }

  /** Shows a room: loads it (also public rooms I am not in), its history and members. */
  async openRoom(roomId: string): Promise<void> {
    // Until the "new messages" line is placed, nothing is marked read (it would move the cursor).
    // (A count, not a flag: the same room may be opened twice at once, e.g. by React's StrictMode.)
    this.preparing.set(roomId, (this.preparing.get(roomId) ?? 0) + 1);
    const unreadAtOpen = this.rooms.get(roomId)?.unread_count ?? 0;
    const cursorAtOpen = this.myRead.get(roomId);
    try {
      await this.loadRoom(roomId);
    } finally {
      const left = (this.preparing.get(roomId) ?? 1) - 1;
      if (left > 0) this.preparing.set(roomId, left);
      else this.preparing.delete(roomId);
    }
    const myCursor = cursorAtOpen ?? this.people.receipts.get().get(roomId)?.get(this.me.get()?.id ?? '') ?? null;
    if (!this.unreadMarkers.get().has(roomId) || unreadAtOpen > 0) {
      const markers = new Map(this.unreadMarkers.get());
      markers.set(roomId, unreadAtOpen > 0 ? myCursor ?? '' : null);
      this.unreadMarkers.set(markers);
    }
    if (myCursor && !this.myRead.has(roomId)) this.myRead.set(roomId, myCursor);
    if (this.isOnScreen(roomId)) this.markRead(roomId);
  }

  private async loadRoom(roomId: string): Promise<void> {
    let room = this.rooms.get(roomId);
    if (!room) {
      room = await this.api.room(roomId);
      if (room.my_role) this.rooms.upsert(room);
      else {
        this.rooms.visit(room);
      }
    }
    const member = this.rooms.isMember(roomId);
    if (!member) {
      // Visitors of public rooms follow its live events by subscribing.
      this.realtime.request({ type: 'subscribe', room_id: roomId }).catch(() => undefined);
    }
    const timeline = this.messages.get(roomId);
    const loads: Promise<unknown>[] = [];
    if (!timeline?.loaded) loads.push(this.loadLatest(roomId));
    loads.push(this.loadMembers(roomId));
    await Promise.all(loads);
  }

  clearUnreadMarker(roomId: string): void {
    if (!this.unreadMarkers.get().get(roomId)) return;
    const markers = new Map(this.unreadMarkers.get());
    markers.set(roomId, null);
    this.unreadMarkers.set(markers);
  }

  private async loadLatest(roomId: string): Promise<void> {
    try {
      const page = await this.api.history(roomId);
      this.messages.setLatest(roomId, page.items, page.has_more);
    } catch (error) {
      this.messages.setError(roomId, `Could not load messages. ${describeError(error)}`);
    }
  }

  async loadMembers(roomId: string, force = false): Promise<void> {
    const fetched = this.membersFetchedAt.get(roomId) ?? 0;
    if (!force && Date.now() - fetched < 30_000) return;
    this.membersFetchedAt.set(roomId, Date.now());
    try {
      this.people.setMembers(roomId, await this.api.members(roomId));
    } catch (error) {
      this.membersFetchedAt.delete(roomId);
      if (!(error instanceof ApiError && error.status === 404)) this.notices.error(`Could not load the members. ${describeError(error)}`);
    }
  }

  /** Infinite scroll upwards. Resolves true when something older was added. */
  async loadOlder(roomId: string): Promise<boolean> {
    const timeline = this.messages.get(roomId);
    if (!timeline?.loaded || !timeline.hasMoreBefore || timeline.loadingOlder) return false;
    const before = this.messages.oldestConfirmedId(roomId);
    if (!before) return false;
    this.messages.setLoadingOlder(roomId, true);
    try {
      const page = await this.api.history(roomId, { before });
      this.messages.prependOlder(roomId, page.items, page.has_more);
      return page.items.length > 0;
    } catch (error) {
      this.messages.setLoadingOlder(roomId, false, `Could not load older messages. ${describeError(error)}`);
      return false;
    }
  }

  /** Loads older pages until `messageId` is in the timeline (jump to a search hit, first unread). */
  async loadUntil(roomId: string, messageId: string, maxPages = 20): Promise<boolean> {
    for (let i = 0; i < maxPages; i++) {
      const oldest = this.messages.oldestConfirmedId(roomId);
      if (oldest && oldest <= messageId) return true;
      const timeline = this.messages.get(roomId);
      if (!timeline?.hasMoreBefore) return false;
      if (!(await this.loadOlder(roomId))) return false;
    }
    return false;
  }

  markRead(roomId: string): void {
    if (!this.rooms.isMember(roomId) || this.preparing.has(roomId)) return;
    // Nothing loaded yet: nothing was seen, nothing is read.
    const last = this.messages.lastConfirmedId(roomId);
    if (!last) return;
    this.rooms.markRead(roomId);
    const known = this.myRead.get(roomId);
    if (known && known >= last) return;
    this.myRead.set(roomId, last);
    const me = this.me.get();
    if (me) this.people.read(roomId, me.id, last);
    this.realtime.request({ type: 'read', room_id: roomId, message_id: last }).catch((error: unknown) => {
      if (isTransient(error)) {
        this.api.markRead(roomId, last).catch(() => this.myRead.delete(roomId));
      }
    });
  }

  // ---- sending ----------------------------------------------------------------------

  /** Optimistic send: shown at once, delivered in order, retried after reconnects. */
  sendMessage(roomId: string, content: string, options: { replyTo?: Message; attachments?: Upload[] } = {}): void {
    const sender = this.sender();
    if (!sender) return;
    const pending = makePending({
      roomId,
      sender,
      content,
      clientMsgId: newClientMsgId(),
      attachments: options.attachments?.map((u) => ({ id: u.id, filename: u.filename, content_type: u.content_type, size: u.size, url: u.url })),
      replyTo: options.replyTo
        ? { id: options.replyTo.id, sender_id: options.replyTo.sender?.id ?? null, excerpt: options.replyTo.content.slice(0, 100) }
        : undefined,
    });
    this.messages.addPending(pending);
    this.typing(roomId, false);
    this.enqueue(pending);
  }

  retry(message: ChatMessage): void {
    if (!message.local) return;
    this.messages.setPendingStatus(message.room_id, message.local.clientMsgId, 'sending');
    this.enqueue(message);
  }

  discard(message: ChatMessage): void {
    if (message.local) this.messages.removePending(message.room_id, message.local.clientMsgId);
  }

  private enqueue(message: ChatMessage): void {
    this.outbox = this.outbox.then(() => this.deliver(message)).catch(() => undefined);
  }

  /** Resends what waited for the connection. */
  private flushOutbox(): void {
    for (const message of this.messages.pending()) {
      if (message.local?.status === 'queued' || message.local?.status === 'sending') this.enqueue(message);
    }
  }

  private async deliver(message: ChatMessage): Promise<void> {
    const local = message.local;
    if (!local) return;
    // Still pending? (An ack from an earlier attempt may have replaced it.)
    const current = this.messages.get(message.room_id)?.messages.find((m) => m.local?.clientMsgId === local.clientMsgId);
    if (!current) return;
    const body = {
      content: message.content,
      client_msg_id: local.clientMsgId,
      reply_to_id: local.replyToId,
      attachment_ids: local.attachmentIds.length ? local.attachmentIds : undefined,
    };
    this.messages.setPendingStatus(message.room_id, local.clientMsgId, 'sending');
    try {
      let saved: Message | undefined;
      if (this.realtime.isOpen) {
        try {
          const ack = await this.realtime.request({ type: 'send_message', room_id: message.room_id, ...body });
          if (ack.type === 'ack') saved = ack.message;
        } catch (error) {
          if (!(error instanceof RealtimeError && (error.code === 'disconnected' || error.code === 'timeout'))) throw error;
        }
      }
      // Not connected, or the socket dropped mid-way: REST, with the same client_msg_id (never a duplicate).
      saved ??= await this.api.postMessage(message.room_id, body);
      this.messages.acknowledge(saved);
      this.rooms.onMessage(saved, { mine: true, onScreen: true });
      this.myRead.set(saved.room_id, saved.id);
    } catch (error) {
      if (isTransient(error)) {
        this.messages.setPendingStatus(message.room_id, local.clientMsgId, 'queued', 'Waiting for the connection…');
        return;
      }
      if ((error instanceof RealtimeError || error instanceof ApiError) && error.retryAfterMs) {
        const wait = error.retryAfterMs;
        this.messages.setPendingStatus(message.room_id, local.clientMsgId, 'queued', 'Sending too fast; retrying…');
        setTimeout(() => this.retry(message), wait);
        return;
      }
      const text = describeError(error);
      this.messages.setPendingStatus(message.room_id, local.clientMsgId, 'failed', text);
      this.notices.error(`Your message was not sent: ${text}`);
    }
  }

  async editMessage(message: Message, content: string): Promise<boolean> {
    try {
      let saved: Message | undefined;
      if (this.realtime.isOpen) {
        const ack = await this.realtime.request({ type: 'edit_message', message_id: message.id, content });
        if (ack.type === 'ack') saved = ack.message;
      }
      saved ??= await this.api.editMessage(message.id, content);
      this.messages.edited(saved);
      return true;
    } catch (error) {
      this.notices.error(`Could not edit the message: ${describeError(error)}`);
      return false;
    }
  }

  async deleteMessage(message: Message): Promise<boolean> {
    try {
      await this.api.deleteMessage(message.id);
      this.messages.deleted(message.room_id, message.id);
      return true;
    } catch (error) {
      this.notices.error(`Could not delete the message: ${describeError(error)}`);
      return false;
    }
  }

  async toggleReaction(message: Message, emoji: string): Promise<void> {
    const mine = message.reactions.find((r) => r.emoji === emoji)?.me ?? false;
    try {
      if (mine) await this.api.unreact(message.id, emoji);
      else await this.api.react(message.id, emoji);
    } catch (error) {
      this.notices.error(`Could not ${mine ? 'remove' : 'add'} the reaction: ${describeError(error)}`);
    }
  }

  /** Typing indicator, throttled: "active" at most every 3 s, "stopped" once. */
  typing(roomId: string, active: boolean): void {
    if (!this.rooms.isMember(roomId)) return;
    const last = this.typingSent.get(roomId);
    const now = Date.now();
    if (active) {
      if (last !== undefined && now - last < 3_000) return;
      if (this.realtime.send({ type: 'typing', room_id: roomId, active: true })) this.typingSent.set(roomId, now);
    } else if (last !== undefined) {
      this.typingSent.delete(roomId);
      this.realtime.send({ type: 'typing', room_id: roomId, active: false });
    }
  }

  // ---- rooms ------------------------------------------------------------------------

  async createRoom(input: { name: string; kind: 'public' | 'private'; topic?: string; member_ids?: string[] }): Promise<Room> {
    const room = await this.api.createRoom(input);
    this.rooms.upsert(room);
    return room;
  }

  async joinRoom(roomId: string): Promise<Room> {
    const room = await this.api.joinRoom(roomId);
    this.rooms.upsert(room);
    return room;
  }

  async leaveRoom(roomId: string): Promise<void> {
    await this.api.leaveRoom(roomId);
    if (this.calls.activeRoomId === roomId) this.calls.leave();
    this.rooms.remove(roomId);
    this.messages.forget(roomId);
  }

  async openDm(userId: string): Promise<Room> {
    const room = await this.api.openDm(userId);
    this.rooms.upsert(room);
    if (room.other_user) this.people.rememberProfiles([room.other_user]);
    return room;
  }

  async updateRoom(roomId: string, changes: { name?: string; topic?: string }): Promise<void> {
    const room = await this.api.updateRoom(roomId, changes);
    this.rooms.patch(roomId, (r) => ({ ...r, name: room.name, topic: room.topic }));
  }

  async updateProfile(changes: Parameters<Api['updateMe']>[0]): Promise<Me> {
    const me = await this.api.updateMe(changes);
    this.me.set(me);
    this.client.setUser(me);
    return me;
  }
}
