require "reject";
reject "one";
if exists "list-id" { reject "two"; }
