require "fileinto";
if address :is "sender" "owner-acme-users@lists.acme.example" { fileinto "sender"; }
if address :domain "reply-to" "shop.example" { fileinto "reply-to"; }
if address :is "resent-from" "resender@example.com" { fileinto "resent"; }
