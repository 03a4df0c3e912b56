"""The user documentation (the README up to its "Develop" heading, docs/*.md, the roles'
READMEs) is written for users: no word of the developers' test lab, every play example
runs as root, every playbook command asks for root, every relative link resolves to a
shipped file. Developer pages (docs/develop/, the README's "Develop" section) are not
checked, and are not in the built tarball; these tests run there too."""
import glob
import os
import re
import textwrap

import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
DEVELOP = '## Develop'

# Words that belong to the developers' pages: the lab and its seeds, the emulated guest,
# the Molecule scenarios.
DEVELOPER_WORDS = re.compile(r'\b(seeds?|emulat\w*|lab|qemu|tcg|guests?|molecule)\b', re.I)
FENCE = re.compile(r'^[ \t]*```(\w*)\n(.*?)^[ \t]*```', re.M | re.S)
LINK = re.compile(r'\[[^\]]*\]\(([^)\s]+)\)')


def readme_parts(text):
    """(user part, developer part) of the README: split at its Develop heading."""
    index = text.find('\n' + DEVELOP + '\n')
    assert index >= 0, 'README.md has no "%s" heading' % DEVELOP
    return text[:index + 1], text[index + 1:]


def user_pages():
    """{path relative to the repo: the text users read}."""
    pages = {}
    with open(os.path.join(REPO, 'README.md')) as handle:
        pages['README.md'] = readme_parts(handle.read())[0]
    for path in sorted(glob.glob(os.path.join(REPO, 'docs', '*.md'))
                       + glob.glob(os.path.join(REPO, 'roles', '*', 'README.md'))):
        with open(path) as handle:
            pages[os.path.relpath(path, REPO)] = handle.read()
    return pages


PAGES = user_pages()


def developer_words(text):
    """Each line of TEXT with a developer word: (line number, line)."""
    return [(number, line) for number, line in enumerate(text.splitlines(), 1)
            if DEVELOPER_WORDS.search(line)]


@pytest.mark.parametrize('page', sorted(PAGES))
def test_user_pages_have_no_developer_words(page):
    found = developer_words(PAGES[page])
    assert not found, '%s speaks of the test lab; say what, why and how for users (or move ' \
        'it to docs/develop/):\n%s' % (page, '\n'.join('  %d: %s' % hit for hit in found))


def test_the_check_finds_a_planted_word():
    assert developer_words('Debian 12 hosts.\nProven in the lab on Debian 12.\n') == \
        [(2, 'Proven in the lab on Debian 12.')]
    assert developer_words('a label, lab\'s seeds, QEMU, under emulation, a guest') != []
    assert developer_words('a label on eth0:0, the collaborators') == []


def test_readme_develop_comes_after_all_user_content():
    with open(os.path.join(REPO, 'README.md')) as handle:
        text = handle.read()
    user, develop = readme_parts(text)
    headings = re.findall(r'^## .*$', text, re.M)
    assert headings[-1] == DEVELOP, 'README.md: "%s" must be the last section' % DEVELOP
    assert headings.count(DEVELOP) == 1
    for heading in ('## Install', '## Quick start'):
        assert heading in user
    # The two set-up commands for working on the collection, kept where they are.
    commands = [line.split()[0] for line in develop.splitlines() if line.startswith('tests/')]
    assert commands == ['tests/lab/demo-run', 'tests/run']


def blocks(text, *languages):
    return [textwrap.dedent(body) for language, body in FENCE.findall(text) if language in languages]


@pytest.mark.parametrize('page', sorted(PAGES))
def test_play_examples_become_root(page):
    for body in blocks(PAGES[page], 'yaml', 'yml'):
        data = yaml.safe_load(body)
        if not isinstance(data, list):
            continue
        for play in data:
            if isinstance(play, dict) and 'hosts' in play:
                assert play.get('become') is True, \
                    '%s: a play example without become: true:\n%s' % (page, body)


@pytest.mark.parametrize('page', sorted(PAGES))
def test_playbook_commands_become_root(page):
    for body in blocks(PAGES[page], 'sh', 'shell', 'bash', 'console'):
        for line in body.splitlines():
            if line.lstrip().startswith('ansible-playbook '):
                assert re.search(r'\s(-b|--become)\b', line), \
                    '%s: ansible-playbook without -b (the playbooks need root): %s' % (page, line)


def slug(heading):
    """The anchor GitHub gives a heading."""
    text = re.sub(r'[^\w\- ]', '', heading.strip().lower())
    return text.replace(' ', '-')


@pytest.mark.parametrize('page', sorted(PAGES))
def test_links_resolve_to_shipped_files(page):
    for target in LINK.findall(PAGES[page]):
        if re.match(r'^[a-z]+:', target):
            continue    # a URL
        path, anchor = (target.split('#', 1) + [''])[:2]
        resolved = os.path.normpath(os.path.join(os.path.dirname(page), path)) if path else page
        assert not resolved.startswith(os.path.join('docs', 'develop')), \
            '%s links to %s, a developer page that is not shipped' % (page, target)
        assert os.path.exists(os.path.join(REPO, resolved)), '%s: broken link %s' % (page, target)
        if anchor and resolved.endswith('.md'):
            with open(os.path.join(REPO, resolved)) as handle:
                anchors = [slug(h) for h in re.findall(r'^#+ (.*)$', handle.read(), re.M)]
            assert anchor in anchors, '%s: no heading #%s in %s' % (page, anchor, resolved)
