require "reject";
keep;
if exists "from" { reject "conflict"; }
