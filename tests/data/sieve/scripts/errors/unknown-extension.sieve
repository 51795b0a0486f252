require "no-such-extension";
keep;
