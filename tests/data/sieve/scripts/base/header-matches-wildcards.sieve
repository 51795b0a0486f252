require "fileinto";
if header :matches "subject" "*schedule" { fileinto "ends"; }
if header :matches "subject" "Meeting*" { fileinto "starts"; }
if header :matches "subject" "*?eeting*" { fileinto "q"; }
if header :matches "subject" "*[*]*" { fileinto "brackets"; }
if header :matches "subject" "*\\**" { fileinto "star"; }
if header :matches "subject" "" { fileinto "empty"; }
if header :matches "x-spam-score" "??" { fileinto "two-digits"; }
