#!/bin/sh
# osgs's debootstrap, second stage: run once, as root, in a container of the
# first-stage image (every package unpacked, the .deb files beside). It
# installs the packages with dpkg in the order debootstrap's own second
# stage uses, so dpkg's database and each package's maintainer scripts end
# as on a debootstrapped system, then removes itself and the .deb files.
set -eu
export DEBIAN_FRONTEND=noninteractive DEBCONF_NONINTERACTIVE_SEEN=true LC_ALL=C
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
cd /var/cache/osgs-debs

# dpkg believes itself installed while it installs the first packages
# (debootstrap's x_feign_install).
printf 'Package: dpkg\nVersion: %s\nMaintainer: unknown\nStatus: install ok installed\n\n' \
	"$(dpkg-deb -f dpkg.deb Version)" >>/var/lib/dpkg/status
touch /var/lib/dpkg/info/dpkg.list

# dpkg's output is shown only when it fails.
run() {
	if ! "$@" >/tmp/dpkg.log 2>&1; then
		grep -v 'already installed, skipping\|^Selecting\|^Preparing\|^Unpacking\|^Setting up\|^Processing\|^(Reading' /tmp/dpkg.log | tail -n 12 >&2
		exit 1
	fi
}
core() { run dpkg --force-depends --install "$@"; }
core base-passwd.deb
core base-files.deb
core dpkg.deb
[ -e /etc/localtime ] || ln -sf /usr/share/zoneinfo/Etc/UTC /etc/localtime
core libc6.deb
core perl-base.deb
rm -f /usr/bin/awk
core mawk.deb
[ ! -e debconf.deb ] || core debconf.deb

# Then every package, as debootstrap does: unpack them all, then configure
# what is pending.
run dpkg --force-depends --force-overwrite --force-confold --skip-same-version --unpack ./*.deb
run dpkg --configure --pending --force-configure-any --force-depends --force-confold
rm -f /tmp/dpkg.log
dpkg --configure -a --force-confold
if [ -n "$(dpkg --audit)" ]; then
	dpkg --audit >&2
	exit 1
fi

# Configured as Debian's own slim images are (debuerreotype's minimizing
# config and its slim variant): dpkg does not fsync each file it unpacks (an
# image build that dies is redone anyway, and each fsync is a round trip
# through the storage driver), apt fetches no translations, and
# documentation, manual pages and translations are not installed, bar the
# copyright files. Images built on this base unpack thousands fewer files.
mkdir -p /etc/dpkg/dpkg.cfg.d /etc/apt/apt.conf.d
echo 'force-unsafe-io' >/etc/dpkg/dpkg.cfg.d/docker-apt-speedup
cat >/etc/dpkg/dpkg.cfg.d/docker <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/overrides/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/man/*
EOF
echo 'Acquire::Languages "none";' >/etc/apt/apt.conf.d/docker-no-languages
find /usr/share/doc -mindepth 1 ! -type d ! -name copyright -delete
find /usr/share/doc -mindepth 1 -depth -type d -empty -delete
rm -rf /usr/share/groff/* /usr/share/info/* /usr/share/linda/* /usr/share/lintian/overrides/* /usr/share/locale/* /usr/share/man/*

cd /
rm -rf /var/cache/osgs-debs /osgs-second-stage.sh /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/dpkg.log /var/log/apt/*
echo "osgs: second stage done: $(dpkg-query -f '.\n' -W | wc -l) packages installed"
