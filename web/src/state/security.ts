// What the owner is told about their account's security (SPEC §5), in plain words: the line
// in the sessions view and the toast when it happens.

import type { SecurityNotice } from '../api/types';
import { timeOfDay } from '../util/format';

const attempts = (n: number) => `${n} failed sign-in attempt${n === 1 ? '' : 's'}`;

/** The line in the sessions view. */
export function securityNoticeText(notice: SecurityNotice): string {
  if (notice.kind === 'login_throttled') {
    return (
      `Sign-in to your account was throttled after ${attempts(notice.failed_logins)} in the last hour ` +
      `(until ${timeOfDay(notice.throttled_until)}). Your password still works for you. ` +
      'If these attempts were not yours, consider changing your password.'
    );
  }
  return 'Something unusual happened to your account. If it was not you, consider changing your password.';
}

/** The toast shown when the server tells a signed-in owner about it. */
export function securityNoticeToast(notice: SecurityNotice): string {
  if (notice.kind === 'login_throttled') {
    return (
      `${attempts(notice.failed_logins)} to your account in the last hour: sign-in is throttled until ` +
      `${timeOfDay(notice.throttled_until)}. Your password still works for you. See Settings › Devices.`
    );
  }
  return 'Something unusual happened to your account. See Settings › Devices.';
}

/** A notice from a live event replaces the one of its kind already known. */
export function withNotice(list: SecurityNotice[], notice: SecurityNotice): SecurityNotice[] {
  return [...list.filter((n) => n.kind !== notice.kind), notice];
}
