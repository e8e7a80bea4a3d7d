import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import { securityNoticeText } from '../state/security';
import { SecurityNotices } from './SecurityNotices';

describe('the security notice line of the sessions view', () => {
  it('shows nothing when nothing happened', () => {
    expect(renderToStaticMarkup(<SecurityNotices notices={[]} />)).toBe('');
  });

  it('shows one callout per notice, in words, with a way to change the password', () => {
    const notice = { kind: 'login_throttled' as const, failed_logins: 23, throttled_until: '2026-12-07T15:40:00Z' };
    const html = renderToStaticMarkup(<SecurityNotices notices={[notice]} />);
    expect(html).toContain('aria-label="Security notices"');
    expect(html.match(/data-testid="security-notice"/g)).toHaveLength(1);
    expect(html).toContain(securityNoticeText(notice));
    expect(html).toContain('23 failed sign-in attempts');
    expect(html).toMatch(/<a href="\/settings\/profile">Change password<\/a>/);
  });
});
