#!/usr/bin/perl
# How pvesh reads an argv: the option parsing of pve-common src/PVE/JSONSchema.pm `get_options`,
# with the option spec it builds for a method's parameters, plus pvesh's own `api_path`
# (the one positional argument, pve-manager PVE/CLI/pvesh.pm `$cmddef`) and `noproxy`.
#
# Usage: pvesh-getopt.pl SPEC ARG...
#   SPEC: comma-separated NAME:TYPE, TYPE one of boolean, string, integer, enum, list (a
#   `*-list` format) or array.
# Prints one JSON object: {"ok": {...the parameters as the handler gets them...}} or
# {"error": "..."} when pvesh would refuse the command line.
use strict;
use warnings;
use Getopt::Long;
use JSON::PP;

my ($spec, @args) = @ARGV;
my %type = map { split /:/, $_, 2 } grep { length } split /,/, $spec;
$type{api_path} //= 'string';
$type{noproxy} //= 'boolean';

# get_options: a boolean takes an optional value (`:s`), a list or array repeats (`@`).
my @getopt;
for my $name (sort keys %type) {
    my $t = $type{$name};
    my $opt = $name . ($t eq 'boolean' ? ':s' : '=s');
    $opt .= '@' if $t eq 'list' || $t eq 'array';
    push @getopt, $opt;
}
Getopt::Long::Configure('prefix_pattern=(--|-)');
my @warnings;
local $SIG{__WARN__} = sub { push @warnings, @_ };
my $opts = {};
my $out = JSON::PP->new->canonical;
if (!Getopt::Long::GetOptionsFromArray(\@args, $opts, @getopt)) {
    print $out->encode({ error => "unable to parse option: " . join('', @warnings) }), "\n";
    exit 0;
}
# The one positional argument: the API path.
if (@args) {
    $opts->{api_path} = shift @args;
}
if (@args) {
    print $out->encode({ error => "too many arguments" }), "\n";
    exit 0;
}
for my $p (keys %$opts) {
    my $t = $type{$p};
    my $value = $opts->{$p};
    if ($t eq 'boolean') {
        if ($value eq '') {
            $opts->{$p} = 1;
        } elsif ($value =~ m/^(1|on|yes|true)$/i) {
            $opts->{$p} = 1;
        } elsif ($value =~ m/^(0|off|no|false)$/i) {
            $opts->{$p} = 0;
        } else {
            print $out->encode({ error => "unable to parse boolean option" }), "\n";
            exit 0;
        }
        $opts->{$p} .= '';
    } elsif ($t eq 'list') {
        $opts->{$p} = join(',', @$value);
    }
}
print $out->encode({ ok => $opts }), "\n";
