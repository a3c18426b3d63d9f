import assert from 'node:assert/strict';
import { pickText, plainMessage } from '../../../src/core/console/viewFormat';

// What a hostile name or comment from the service becomes before a notification
// or a quick pick renders it.
const HOSTILE = '<script>alert(1)</script> [x](command:workbench.action.quit) [y] (https://evil.example) $(zap) ![i](file:///etc/passwd)';

describe('plain text for notifications and quick picks', () => {
  it('leaves no markdown link and no icon in a notification, and keeps every other character', () => {
    const text = plainMessage(HOSTILE);
    assert.doesNotMatch(text, /\]\(/, 'no link syntax left (a space between ] and ( makes no link)');
    assert.doesNotMatch(text, /\$\(/, 'no icon syntax left');
    assert.ok(text.includes('<script>alert(1)</script>'), 'HTML stays visible as text (notifications do not render HTML)');
    assert.equal(text.replace(/ /g, ''), HOSTILE.replace(/ /g, ''), 'only spaces were added');
  });

  it('escapes icons in a quick pick so they show as typed', () => {
    assert.equal(pickText('$(zap) Lobby $(x)'), '\\$(zap) Lobby \\$(x)');
    assert.equal(pickText('Lobby [x](command:y)'), 'Lobby [x](command:y)', 'quick picks render no links: the text is kept');
  });
});
