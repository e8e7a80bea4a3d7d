// Shapes of the Chatter REST API and WebSocket protocol (see SPEC.md §3 and §4).
// IDs are UUIDv7 strings: for messages of a room, string order is id order is time order.

export interface Me {
  id: string;
  username: string;
  email: string | null;
  display_name: string;
  status_text: string;
  avatar_url: string | null;
  created_at: string;
  updated_at: string;
}

export interface PublicProfile {
  id: string;
  username: string;
  display_name: string;
  avatar_url: string | null;
  status_text: string;
  online: boolean;
  last_seen_at: string | null;
}

export interface TokenResponse {
  user: Me;
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
}

export interface Session {
  id: string;
  device_id: string;
  user_agent: string;
  ip: string;
  created_at: string;
  last_seen_at: string;
  expires_at: string;
  current: boolean;
}

/**
 * Something about the account's security its owner is told (SPEC §5): in the sessions view
 * while it holds, and live as a `security_notice` event.
 */
export interface SecurityNotice {
  /** `login_throttled`: sign-in with a wrong password is refused until `throttled_until`. */
  kind: 'login_throttled';
  /** Failed sign-ins to this account in the current hour-long window. */
  failed_logins: number;
  /** When that window ends. */
  throttled_until: string;
}

export type RoomKind = 'public' | 'private' | 'direct';
export type Role = 'owner' | 'admin' | 'member';

export interface Room {
  id: string;
  kind: RoomKind;
  name: string;
  topic: string;
  alias: string | null;
  created_by: string | null;
  created_at: string;
  member_count: number;
  my_role?: Role;
  unread_count?: number;
  last_message?: Message;
  other_user?: PublicProfile;
  ws_url: string;
}

export interface Sender {
  id: string;
  username: string;
  display_name: string;
}

export interface Attachment {
  id: string;
  filename: string;
  content_type: string;
  size: number;
  url: string;
}

export interface Upload extends Attachment {
  sha256: string;
  created_at: string;
}

export interface Reaction {
  emoji: string;
  count: number;
  me: boolean;
}

export interface Message {
  id: string;
  room_id: string;
  sender: Sender | null;
  content: string;
  reply_to?: { id: string; sender_id: string | null; excerpt: string };
  attachments: Attachment[];
  reactions: Reaction[];
  client_msg_id: string | null;
  created_at: string;
  edited_at?: string;
  deleted: boolean;
}

export interface Member {
  user: PublicProfile;
  role: Role;
  joined_at: string;
  read_up_to: string | null;
}

export interface Ban {
  user_id: string;
  banned_by: string | null;
  reason: string;
  until: string | null;
  created_at: string;
}

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

export interface HistoryPage {
  items: Message[];
  has_more: boolean;
  next_cursor: string | null;
}

export interface IceServer {
  urls: string | string[];
  username?: string;
  credential?: string;
}

export interface IceServersResponse {
  ice_servers: IceServer[];
  ttl_secs: number;
}

// ---- WebSocket frames -------------------------------------------------------------------

export interface CallParticipant {
  connection_id: string;
  user: Sender;
  audio: boolean;
  video: boolean;
  screen: boolean;
}

export type SignalAction = 'offer' | 'answer' | 'ice' | 'bye';

export type ServerFrame =
  | { type: 'auth_required' }
  | {
      type: 'welcome';
      connection_id: string;
      user: Me;
      session_id: string;
      rooms: Room[];
      heartbeat_secs: number;
    }
  | { type: 'ack'; ref?: string; message?: Message; message_id?: string; room_id?: string }
  | { type: 'error'; ref?: string; code: string; message: string; retry_after_ms?: number }
  | { type: 'pong'; ref?: string }
  | { type: 'subscribed'; ref?: string; room_id: string; replayed: number; has_more: boolean }
  | { type: 'message_new'; message: Message }
  | { type: 'message_edited'; message: Message }
  | { type: 'message_deleted'; room_id: string; message_id: string }
  | { type: 'reaction'; room_id: string; message_id: string; emoji: string; user_id: string; added: boolean }
  | { type: 'typing'; room_id: string; user_id: string; active: boolean }
  | { type: 'read'; room_id: string; user_id: string; message_id: string }
  | { type: 'presence'; user_id: string; status: 'online' | 'offline'; last_seen_at: string | null }
  | { type: 'user_updated'; user: PublicProfile }
  | { type: 'member_joined'; room_id: string; user: PublicProfile }
  | { type: 'member_left'; room_id: string; user_id: string }
  | { type: 'member_role_changed'; room_id: string; user_id: string; role: Role }
  | { type: 'room_updated'; room: Room }
  | { type: 'room_deleted'; room_id: string }
  | { type: 'dm_created'; room: Room }
  | { type: 'banned'; room_id: string; until: string | null; reason: string }
  | { type: 'session_revoked'; reason: string }
  | ({ type: 'security_notice' } & SecurityNotice)
  | { type: 'call_participants'; ref?: string; room_id: string; participants: CallParticipant[] }
  | { type: 'call_joined'; room_id: string; participant: CallParticipant }
  | {
      type: 'call_media';
      room_id: string;
      connection_id: string;
      user_id: string;
      audio: boolean;
      video: boolean;
      screen: boolean;
    }
  | { type: 'call_left'; room_id: string; connection_id: string }
  | {
      type: 'webrtc';
      room_id: string;
      from: string;
      from_user: Sender;
      action: SignalAction;
      sdp?: RTCSessionDescriptionInit;
      candidate?: RTCIceCandidateInit;
    };

export type ServerFrameOf<T extends ServerFrame['type']> = Extract<ServerFrame, { type: T }>;
