import { useState } from 'react';
import { ApiError, describeError } from '../api/errors';
import { useChat } from '../app/context';
import { navigate, onLinkClick } from '../app/router';
import { Icon } from '../components/Icon';
import { Field } from '../components/Field';

interface Props {
  mode: 'login' | 'register';
  notice?: string;
}

export function AuthPage({ mode, notice }: Props) {
  const chat = useChat();
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [displayName, setDisplayName] = useState('');
  const [email, setEmail] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const [fields, setFields] = useState<Record<string, string>>({});

  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError('');
    setFields({});
    try {
      if (mode === 'login') await chat.client.login(username.trim(), password);
      else
        await chat.client.register({
          username: username.trim(),
          password,
          display_name: displayName.trim() || undefined,
          email: email.trim() || undefined,
        });
      navigate('/', { replace: true });
    } catch (err) {
      if (err instanceof ApiError && Object.keys(err.fields).length) setFields(err.fields);
      setError(err instanceof ApiError && err.status === 401 ? 'Wrong username or password.' : describeError(err));
    } finally {
      setBusy(false);
    }
  };

  const isLogin = mode === 'login';
  return (
    <main className="auth-page">
      <div className="auth-card">
        <div className="auth-brand">
          <span className="brand-mark" aria-hidden="true">
            <Icon name="message" size={26} />
          </span>
          <span className="brand-name">Chatter</span>
        </div>
        <h1>{isLogin ? 'Welcome back' : 'Create your account'}</h1>
        <p className="muted">{isLogin ? 'Sign in to your rooms, messages and calls.' : 'Rooms, direct messages and calls, in one place.'}</p>
        {notice && (
          <div className="callout info" role="status">
            {notice}
          </div>
        )}
        <form onSubmit={submit} noValidate>
          <Field label={isLogin ? 'Username or email' : 'Username'} hint={isLogin ? undefined : '3–32 letters, digits, “_”, “.” or “-”.'} error={fields.username}>
            <input name="username" autoComplete="username" autoCapitalize="none" spellCheck={false} required value={username} onChange={(e) => setUsername(e.target.value)} />
          </Field>
          {!isLogin && (
            <Field
              label={
                <>
                  Display name <span className="muted">(optional)</span>
                </>
              }
              error={fields.display_name}
            >
              <input name="display_name" autoComplete="name" value={displayName} onChange={(e) => setDisplayName(e.target.value)} />
            </Field>
          )}
          {!isLogin && (
            <Field
              label={
                <>
                  Email <span className="muted">(optional)</span>
                </>
              }
              error={fields.email}
            >
              <input name="email" type="email" autoComplete="email" value={email} onChange={(e) => setEmail(e.target.value)} />
            </Field>
          )}
          <Field label="Password" hint={isLogin ? undefined : 'At least 8 characters; not a common password.'} error={fields.password}>
            <input
              name="password"
              type="password"
              autoComplete={isLogin ? 'current-password' : 'new-password'}
              required
              value={password}
              onChange={(e) => setPassword(e.target.value)}
            />
          </Field>
          {error && (
            <div className="callout error" role="alert">
              {error}
            </div>
          )}
          <button type="submit" className="button primary block" disabled={busy || !username || !password}>
            {busy ? (isLogin ? 'Signing in…' : 'Creating account…') : isLogin ? 'Sign in' : 'Create account'}
          </button>
        </form>
        <p className="auth-switch">
          {isLogin ? (
            <>
              New to Chatter?{' '}
              <a href="/register" onClick={onLinkClick('/register')}>
                Create an account
              </a>
            </>
          ) : (
            <>
              Already have an account?{' '}
              <a href="/login" onClick={onLinkClick('/login')}>
                Sign in
              </a>
            </>
          )}
        </p>
      </div>
    </main>
  );
}
