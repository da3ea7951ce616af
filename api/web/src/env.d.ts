// Vite turns CSS imports into <link>s in the built page; to TypeScript they are modules without exports.
declare module '*.css';
