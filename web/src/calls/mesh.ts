// Mesh WebRTC calls over the server's signaling (SPEC §4): call_join → call_participants; the
// newcomer offers to each participant already there; answers and ICE candidates follow via
// `webrtc` frames addressed by connection_id. A call survives a WebSocket reconnect: the
// peer connections stay up (media is peer to peer), call_join is sent again, and the peers
// re-address one another under the new connection id.

import type { CallParticipant, Sender, ServerFrame, ServerFrameOf } from '../api/types';
import { Store } from '../state/store';

export type PeerState = RTCPeerConnectionState | 'waiting';

export interface PeerView {
  connectionId: string;
  user: Sender;
  audio: boolean;
  video: boolean;
  screen: boolean;
  state: PeerState;
  stream: MediaStream | null;
}

export interface CallView {
  roomId: string;
  status: 'joining' | 'joined' | 'reconnecting' | 'left';
  localStream: MediaStream | null;
  audio: boolean;
  video: boolean;
  screen: boolean;
  /** What the devices allow (no camera → video unavailable). */
  hasAudio: boolean;
  hasVideo: boolean;
  peers: PeerView[];
  error?: string;
}

export interface CallDeps {
  me: () => Sender | null;
  /** My current connection id (changes on reconnect). */
  connectionId: () => string | null;
  /** Fire-and-forget signaling; false when the socket is down. */
  send: (frame: Record<string, unknown>) => boolean;
  /** Request with a ref; resolves with the reply frame. */
  request: (frame: Record<string, unknown>) => Promise<ServerFrame>;
  iceServers: () => Promise<RTCIceServer[]>;
  media?: Pick<MediaDevices, 'getUserMedia' | 'getDisplayMedia'>;
  createPeerConnection?: (config: RTCConfiguration) => RTCPeerConnection;
}

interface Peer {
  connectionId: string;
  user: Sender;
  audio: boolean;
  video: boolean;
  screen: boolean;
  pc: RTCPeerConnection | null;
  stream: MediaStream | null;
  pendingCandidates: RTCIceCandidateInit[];
  /** Left signaling (e.g. their socket reconnects) while media still flowed: kept a while. */
  detachedTimer: ReturnType<typeof setTimeout> | null;
}

const DETACH_GRACE_MS = 20_000;

function describeMediaError(error: unknown): string {
  if (error instanceof DOMException) {
    if (error.name === 'NotAllowedError') return 'Camera and microphone access was refused. Allow it in the browser to be seen and heard.';
    if (error.name === 'NotFoundError') return 'No camera or microphone was found.';
    if (error.name === 'NotReadableError') return 'The camera or microphone is in use by another program.';
  }
  return error instanceof Error ? error.message : 'The camera or microphone could not be started.';
}

export class CallManager {
  readonly view = new Store<CallView | null>(null);
  private readonly deps: CallDeps;
  private peers = new Map<string, Peer>();
  private roomId: string | null = null;
  private local: MediaStream | null = null;
  private cameraTrack: MediaStreamTrack | null = null;
  private screenTrack: MediaStreamTrack | null = null;
  private iceServers: RTCIceServer[] = [];
  private audio = false;
  private video = false;
  private error: string | undefined;
  private status: CallView['status'] = 'left';

  constructor(deps: CallDeps) {
    this.deps = deps;
  }

  get activeRoomId(): string | null {
    return this.roomId;
  }

  /** Live RTCPeerConnections, by remote connection id (for diagnostics and tests). */
  get connections(): ReadonlyMap<string, RTCPeerConnection> {
    const map = new Map<string, RTCPeerConnection>();
    for (const [id, peer] of this.peers) if (peer.pc) map.set(id, peer.pc);
    return map;
  }

  private publish(): void {
    if (!this.roomId) {
      this.view.set(null);
      return;
    }
    this.view.set({
      roomId: this.roomId,
      status: this.status,
      localStream: this.local,
      audio: this.audio,
      video: this.video,
      screen: this.screenTrack !== null,
      hasAudio: (this.local?.getAudioTracks().length ?? 0) > 0,
      hasVideo: this.cameraTrack !== null,
      error: this.error,
      peers: [...this.peers.values()].map((p) => ({
        connectionId: p.connectionId,
        user: p.user,
        audio: p.audio,
        video: p.video,
        screen: p.screen,
        state: p.pc ? p.pc.connectionState : 'waiting',
        stream: p.stream,
      })),
    });
  }

  private get media(): Pick<MediaDevices, 'getUserMedia' | 'getDisplayMedia'> {
    return this.deps.media ?? navigator.mediaDevices;
  }

  async join(roomId: string, want: { audio: boolean; video: boolean } = { audio: true, video: true }): Promise<void> {
    if (this.roomId === roomId) return;
    if (this.roomId) this.leave();
    this.roomId = roomId;
    this.status = 'joining';
    this.error = undefined;
    this.publish();
    try {
      this.iceServers = await this.deps.iceServers();
    } catch {
      this.iceServers = [];
    }
    await this.startLocalMedia(want);
    if (this.roomId !== roomId) return; // left meanwhile
    await this.sendJoin();
  }

  private async startLocalMedia(want: { audio: boolean; video: boolean }): Promise<void> {
    if (!want.audio && !want.video) return;
    const attempts: MediaStreamConstraints[] = [
      { audio: want.audio, video: want.video ? { width: { ideal: 640 }, height: { ideal: 480 } } : false },
    ];
    if (want.audio && want.video) attempts.push({ audio: true, video: false });
    let lastError: unknown;
    for (const constraints of attempts) {
      try {
        this.local = await this.media.getUserMedia(constraints);
        break;
      } catch (error) {
        lastError = error;
      }
    }
    if (!this.local) {
      this.error = describeMediaError(lastError);
      this.local = new MediaStream();
    } else if (want.video && this.local.getVideoTracks().length === 0) {
      this.error = 'No camera is available: you join with sound only.';
    }
    this.cameraTrack = this.local.getVideoTracks()[0] ?? null;
    this.audio = this.local.getAudioTracks().length > 0;
    this.video = this.cameraTrack !== null;
  }

  private async sendJoin(): Promise<void> {
    const roomId = this.roomId;
    if (!roomId) return;
    let reply: ServerFrame;
    try {
      reply = await this.deps.request({ type: 'call_join', room_id: roomId, audio: this.audio, video: this.video });
    } catch (error) {
      if (this.roomId !== roomId) return;
      // Not connected: the call is (re)joined on the next welcome.
      this.status = 'reconnecting';
      const code = (error as { code?: string }).code;
      if (code && code !== 'disconnected' && code !== 'timeout') {
        this.error = error instanceof Error ? error.message : 'Could not join the call.';
        this.status = 'joining';
      }
      this.publish();
      return;
    }
    if (this.roomId !== roomId || reply.type !== 'call_participants') return;
    this.status = 'joined';
    if (this.screenTrack) this.deps.send({ type: 'call_media', room_id: roomId, audio: this.audio, video: this.video, screen: true });
    // After a reconnect everyone may have a new connection id (a server restart gives new ids to
    // all): peers whose media still flows are kept, detached, until they are matched again.
    this.detachAll();
    for (const participant of reply.participants) {
      const existing = this.peers.get(participant.connection_id) ?? this.findDetached(participant.user.id);
      if (existing) {
        this.reattach(existing, participant);
        const state = existing.pc?.connectionState;
        if (existing.pc && state !== 'failed' && state !== 'closed') continue;
        this.closePeer(existing.connectionId, false);
      }
      await this.offerTo(participant);
    }
    this.publish();
  }

  /** Marks every peer as possibly gone; each is closed unless matched again within the grace time. */
  private detachAll(): void {
    for (const peer of this.peers.values()) this.detach(peer);
  }

  private detach(peer: Peer): void {
    if (peer.detachedTimer) return;
    peer.detachedTimer = setTimeout(() => {
      if (this.peers.get(peer.connectionId) === peer && peer.detachedTimer) {
        this.closePeer(peer.connectionId, false);
        this.publish();
      }
    }, DETACH_GRACE_MS);
  }

  private findLive(userId: string): Peer | undefined {
    for (const peer of this.peers.values()) {
      const state = peer.pc?.connectionState;
      if (peer.user.id === userId && peer.pc && state !== 'failed' && state !== 'closed') return peer;
    }
    return undefined;
  }

  private findDetached(userId: string): Peer | undefined {
    for (const peer of this.peers.values()) if (peer.detachedTimer && peer.user.id === userId) return peer;
    return undefined;
  }

  /** A peer seen again (maybe under a new connection id): keep its connection, re-address it. */
  private reattach(peer: Peer, participant: CallParticipant): void {
    if (peer.detachedTimer) clearTimeout(peer.detachedTimer);
    peer.detachedTimer = null;
    if (peer.connectionId !== participant.connection_id) {
      this.peers.delete(peer.connectionId);
      peer.connectionId = participant.connection_id;
      this.peers.set(peer.connectionId, peer);
    }
    Object.assign(peer, { user: participant.user, audio: participant.audio, video: participant.video, screen: participant.screen });
  }

  /** After a WebSocket reconnect: join again under the new connection id; peers stay. */
  onReconnected(): void {
    if (!this.roomId) return;
    void this.sendJoin();
  }

  onDisconnected(): void {
    if (!this.roomId) return;
    this.status = 'reconnecting';
    this.publish();
  }

  leave(): void {
    const roomId = this.roomId;
    if (!roomId) return;
    // "bye" first, so peers close at once instead of waiting for a possible reconnect.
    for (const id of [...this.peers.keys()]) this.closePeer(id, true);
    this.deps.send({ type: 'call_leave', room_id: roomId });
    for (const track of this.local?.getTracks() ?? []) track.stop();
    this.screenTrack?.stop();
    this.local = null;
    this.cameraTrack = null;
    this.screenTrack = null;
    this.roomId = null;
    this.status = 'left';
    this.publish();
  }

  // ---- media toggles ----------------------------------------------------------------

  private announceMedia(): void {
    if (!this.roomId) return;
    this.deps.send({ type: 'call_media', room_id: this.roomId, audio: this.audio, video: this.video, screen: this.screenTrack !== null });
  }

  toggleAudio(): void {
    const tracks = this.local?.getAudioTracks() ?? [];
    if (!tracks.length) return;
    this.audio = !this.audio;
    for (const track of tracks) track.enabled = this.audio;
    this.announceMedia();
    this.publish();
  }

  toggleVideo(): void {
    if (!this.cameraTrack) return;
    this.video = !this.video;
    this.cameraTrack.enabled = this.video;
    this.announceMedia();
    this.publish();
  }

  async toggleScreen(): Promise<void> {
    if (this.screenTrack) {
      this.stopScreen();
      return;
    }
    let stream: MediaStream;
    try {
      stream = await this.media.getDisplayMedia({ video: true, audio: false });
    } catch (error) {
      if (error instanceof DOMException && error.name === 'NotAllowedError') return; // the user cancelled
      this.error = describeMediaError(error);
      this.publish();
      return;
    }
    const track = stream.getVideoTracks()[0];
    if (!track) return;
    this.screenTrack = track;
    track.addEventListener('ended', () => {
      if (this.screenTrack === track) this.stopScreen();
    });
    await this.replaceVideoTrack(track);
    this.announceMedia();
    this.publish();
  }

  private stopScreen(): void {
    const track = this.screenTrack;
    this.screenTrack = null;
    track?.stop();
    void this.replaceVideoTrack(this.cameraTrack);
    this.announceMedia();
    this.publish();
  }

  private async replaceVideoTrack(track: MediaStreamTrack | null): Promise<void> {
    for (const peer of this.peers.values()) {
      const sender = peer.pc?.getTransceivers().find((t) => t.receiver.track.kind === 'video')?.sender;
      if (sender) await sender.replaceTrack(track).catch(() => undefined);
    }
  }

  /** The stream shown in my own tile: the screen while sharing, else the camera. */
  get previewTrack(): MediaStreamTrack | null {
    return this.screenTrack ?? this.cameraTrack;
  }

  // ---- peers ------------------------------------------------------------------------

  private newPeer(participant: Pick<CallParticipant, 'connection_id' | 'user'> & Partial<CallParticipant>): Peer {
    const peer: Peer = {
      connectionId: participant.connection_id,
      user: participant.user,
      audio: participant.audio ?? true,
      video: participant.video ?? true,
      screen: participant.screen ?? false,
      pc: null,
      stream: null,
      pendingCandidates: [],
      detachedTimer: null,
    };
    this.peers.set(peer.connectionId, peer);
    return peer;
  }

  private createPc(peer: Peer): RTCPeerConnection {
    const config: RTCConfiguration = { iceServers: this.iceServers };
    const pc = this.deps.createPeerConnection ? this.deps.createPeerConnection(config) : new RTCPeerConnection(config);
    peer.pc = pc;
    peer.stream = new MediaStream();
    pc.onicecandidate = (event) => {
      if (!event.candidate || !this.roomId) return;
      this.deps.send({ type: 'webrtc', room_id: this.roomId, to: peer.connectionId, action: 'ice', candidate: event.candidate.toJSON() });
    };
    pc.ontrack = (event) => {
      const stream = new MediaStream([...(peer.stream?.getTracks() ?? []).filter((t) => t.kind !== event.track.kind), event.track]);
      peer.stream = stream;
      this.publish();
    };
    pc.onconnectionstatechange = () => {
      if (peer.pc !== pc) return;
      // A detached peer whose media stopped for good is gone. "disconnected" is not enough: it
      // is often a passing gap (a busy machine, a network switch) that ICE recovers from, and a
      // peer never matched again is closed when its grace time ends anyway.
      if (peer.detachedTimer && ['failed', 'closed'].includes(pc.connectionState)) {
        this.closePeer(peer.connectionId, false);
        this.publish();
        return;
      }
      this.publish();
      // A broken connection is renegotiated from scratch by one side only (the lower id).
      const mine = this.deps.connectionId();
      if (pc.connectionState === 'failed' && mine && mine < peer.connectionId && !peer.detachedTimer && this.roomId) {
        const participant = { connection_id: peer.connectionId, user: peer.user, audio: peer.audio, video: peer.video, screen: peer.screen };
        this.closePeer(peer.connectionId, false);
        void this.offerTo(participant);
      }
    };
    return pc;
  }

  /** Sends my tracks on the pc's audio and video transceivers (creating them if needed). */
  private attachLocal(pc: RTCPeerConnection): void {
    const audioTrack = this.local?.getAudioTracks()[0] ?? null;
    const videoTrack = this.screenTrack ?? this.cameraTrack;
    const streams = this.local ? [this.local] : [];
    for (const [kind, track] of [
      ['audio', audioTrack],
      ['video', videoTrack],
    ] as const) {
      const transceiver = pc.getTransceivers().find((t) => t.receiver.track.kind === kind && t.currentDirection !== 'stopped');
      if (transceiver) {
        transceiver.direction = 'sendrecv';
        void transceiver.sender.replaceTrack(track).catch(() => undefined);
        if (streams.length) transceiver.sender.setStreams?.(...streams);
      } else {
        pc.addTransceiver(track ?? kind, { direction: 'sendrecv', streams });
      }
    }
  }

  private async offerTo(participant: CallParticipant): Promise<void> {
    const roomId = this.roomId;
    if (!roomId) return;
    const peer = this.peers.get(participant.connection_id) ?? this.newPeer(participant);
    Object.assign(peer, { audio: participant.audio, video: participant.video, screen: participant.screen });
    const pc = this.createPc(peer);
    this.attachLocal(pc);
    this.publish();
    try {
      const offer = await pc.createOffer();
      await pc.setLocalDescription(offer);
      this.deps.send({ type: 'webrtc', room_id: roomId, to: peer.connectionId, action: 'offer', sdp: pc.localDescription?.toJSON() ?? offer });
    } catch (error) {
      this.error = `Could not call ${participant.user.display_name}: ${error instanceof Error ? error.message : 'negotiation failed'}`;
      this.publish();
    }
  }

  private closePeer(connectionId: string, notify: boolean): void {
    const peer = this.peers.get(connectionId);
    if (!peer) return;
    if (peer.detachedTimer) clearTimeout(peer.detachedTimer);
    if (notify && this.roomId) this.deps.send({ type: 'webrtc', room_id: this.roomId, to: connectionId, action: 'bye' });
    peer.pc?.close();
    this.peers.delete(connectionId);
  }

  // ---- signaling frames -------------------------------------------------------------

  handleFrame(frame: ServerFrame): void {
    if (!this.roomId) return;
    switch (frame.type) {
      case 'call_joined':
        if (frame.room_id === this.roomId) this.onJoined(frame.participant);
        break;
      case 'call_left':
        if (frame.room_id === this.roomId) this.onLeft(frame.connection_id);
        break;
      case 'call_media':
        if (frame.room_id === this.roomId) {
          const peer = this.peers.get(frame.connection_id);
          if (peer) {
            Object.assign(peer, { audio: frame.audio, video: frame.video, screen: frame.screen });
            this.publish();
          }
        }
        break;
      case 'webrtc':
        if (frame.room_id === this.roomId) void this.onSignal(frame);
        break;
      default:
        break;
    }
  }

  private onJoined(participant: CallParticipant): void {
    const known = this.peers.get(participant.connection_id);
    if (known) {
      this.reattach(known, participant);
      this.publish();
      return;
    }
    // The same person back under a new connection id (their socket reconnected): re-address.
    // While this side is itself rejoining after a reconnect (a server restart gives everyone new
    // ids), their call_joined can arrive before this side's call_participants reply has marked
    // the old peers as detached: any live peer of that user is then theirs.
    const detached =
      this.findDetached(participant.user.id) ??
      (this.status === 'reconnecting' ? this.findLive(participant.user.id) : undefined);
    if (detached) {
      this.reattach(detached, participant);
      this.publish();
      return;
    }
    // A newcomer: they will send the offer.
    this.newPeer(participant);
    this.publish();
  }

  private onLeft(connectionId: string): void {
    const peer = this.peers.get(connectionId);
    if (!peer) return;
    if (peer.pc && peer.pc.connectionState === 'connected') {
      // Maybe only their socket dropped: media still flows, keep it for a while.
      this.detach(peer);
      return;
    }
    this.closePeer(connectionId, false);
    this.publish();
  }

  private async onSignal(frame: ServerFrameOf<'webrtc'>): Promise<void> {
    const roomId = this.roomId;
    if (!roomId) return;
    let peer = this.peers.get(frame.from);
    switch (frame.action) {
      case 'offer': {
        if (!frame.sdp) return;
        if (!peer) peer = this.newPeer({ connection_id: frame.from, user: frame.from_user });
        let pc = peer.pc;
        if (pc && pc.connectionState !== 'closed') {
          try {
            await pc.setRemoteDescription(frame.sdp);
          } catch {
            pc.close();
            pc = null;
          }
        } else pc = null;
        if (!pc) {
          pc = this.createPc(peer);
          peer.pendingCandidates = [];
          await pc.setRemoteDescription(frame.sdp);
        }
        this.attachLocal(pc);
        await this.flushCandidates(peer);
        const answer = await pc.createAnswer();
        await pc.setLocalDescription(answer);
        this.deps.send({ type: 'webrtc', room_id: roomId, to: frame.from, action: 'answer', sdp: pc.localDescription?.toJSON() ?? answer });
        this.publish();
        break;
      }
      case 'answer': {
        if (!peer?.pc || !frame.sdp) return;
        if (peer.pc.signalingState !== 'have-local-offer') return;
        await peer.pc.setRemoteDescription(frame.sdp).catch((error: unknown) => {
          this.error = `Could not connect to ${peer?.user.display_name}: ${error instanceof Error ? error.message : 'bad answer'}`;
        });
        await this.flushCandidates(peer);
        this.publish();
        break;
      }
      case 'ice': {
        if (!frame.candidate) return;
        if (!peer) peer = this.newPeer({ connection_id: frame.from, user: frame.from_user });
        if (peer.pc?.remoteDescription) await peer.pc.addIceCandidate(frame.candidate).catch(() => undefined);
        else peer.pendingCandidates.push(frame.candidate);
        break;
      }
      case 'bye':
        this.closePeer(frame.from, false);
        this.publish();
        break;
    }
  }

  private async flushCandidates(peer: Peer): Promise<void> {
    const pc = peer.pc;
    if (!pc?.remoteDescription) return;
    const candidates = peer.pendingCandidates;
    peer.pendingCandidates = [];
    for (const candidate of candidates) await pc.addIceCandidate(candidate).catch(() => undefined);
  }
}
