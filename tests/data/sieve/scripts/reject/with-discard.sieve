require "reject";
if exists "x-spam-flag" { reject "spam"; discard; }
