// The security notices at the top of the sessions view (SPEC §5).

import type { SecurityNotice } from '../api/types';
import { onLinkClick } from '../app/router';
import { securityNoticeText } from '../state/security';
import { Icon } from './Icon';

export function SecurityNotices({ notices }: { notices: SecurityNotice[] }) {
  if (notices.length === 0) return null;
  return (
    <div className="security-notices" role="region" aria-label="Security notices">
      {notices.map((notice) => (
        <div key={notice.kind} className="callout warning security-notice" data-testid="security-notice" data-kind={notice.kind}>
          <Icon name="shield" size={20} />
          <p>
            {securityNoticeText(notice)}{' '}
            <a href="/settings/profile" onClick={onLinkClick('/settings/profile')}>
              Change password
            </a>
          </p>
        </div>
      ))}
    </div>
  );
}
